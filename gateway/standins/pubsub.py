"""Google Cloud Pub/Sub's REST API stood in on this machine, as much of it as a publisher uses:
``GET /v1/projects/{project}/topics`` (``{topics: [{name}]}``), ``PUT`` a topic to make it,
``DELETE`` it, and ``POST /v1/projects/{project}/topics/{topic}:publish`` with ``{messages:
[{data (base64), attributes, orderingKey?}]}`` answering ``{messageIds}``; a topic not there is
Google's ``404`` with ``{error: {code, message, status: "NOT_FOUND"}}``. Messages are kept in
memory by topic, in the order published, with their data decoded."""

import base64
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["PubSubStandIn", "Published"]


@dataclass(frozen=True, slots=True)
class Published:
    data: bytes
    attributes: dict[str, str]
    message_id: str


@dataclass
class PubSubStandIn:
    url: str = ""
    topics: dict[str, list[Published]] = field(default_factory=dict)  # by full name
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/projects/{project}/topics", self._list, methods=["GET"]),
                Route(
                    "/v1/projects/{project}/topics/{topic}",
                    self._topic,
                    methods=["PUT", "DELETE", "POST"],
                ),
            ]
        )

    async def _list(self, request: Request) -> Response:
        prefix = f"projects/{request.path_params['project']}/topics/"
        names = [{"name": name} for name in self.topics if name.startswith(prefix)]
        return JSONResponse({"topics": names})

    async def _topic(self, request: Request) -> Response:
        project, topic = request.path_params["project"], request.path_params["topic"]
        name, _, verb = topic.partition(":")
        full = f"projects/{project}/topics/{name}"
        if request.method == "PUT":
            self.topics.setdefault(full, [])
            return JSONResponse({"name": full})
        if full not in self.topics:
            return _not_found(full)
        if request.method == "DELETE":
            del self.topics[full]
            return JSONResponse({})
        if verb != "publish":
            return JSONResponse({"error": {"code": 404, "status": "NOT_FOUND"}}, status_code=404)
        body: dict[str, Any] = await request.json()
        ids: list[str] = []
        for message in body.get("messages", []):
            message_id = str(next(self._ids))
            data = base64.b64decode(message.get("data", ""))
            self.topics[full].append(Published(data, message.get("attributes", {}), message_id))
            ids.append(message_id)
        return JSONResponse({"messageIds": ids})


def _not_found(name: str) -> Response:
    error = {
        "code": 404,
        "message": f"Resource not found (resource={name}).",
        "status": "NOT_FOUND",
    }
    return JSONResponse({"error": error}, status_code=404)
