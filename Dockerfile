# One image for every process: the gateway (default command) and the worker
# (`python -m worker`), and the one-shot `aitopup migrate`. The `proxy` target is the reverse
# proxy in front of the gateways: Debian's nginx with deploy/nginx.conf.

FROM debian:bookworm-slim AS proxy
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends nginx-light \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10002 --create-home --home-dir /var/lib/aitopup-proxy proxy
COPY deploy/nginx.conf /etc/aitopup/nginx.conf
USER 10002
WORKDIR /var/lib/aitopup-proxy
EXPOSE 8080
CMD ["nginx", "-p", "/var/lib/aitopup-proxy/", "-c", "/etc/aitopup/nginx.conf", "-e", "stderr", \
     "-g", "daemon off;"]

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY . .
RUN python -m venv /opt/venv && /opt/venv/bin/pip install .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN useradd --system --uid 10001 --create-home --home-dir /app aitopup
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER 10001
EXPOSE 8000
CMD ["aitopup", "serve", "--host", "0.0.0.0", "--port", "8000"]
