# xinyidai — the two commands a new user runs are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 8000
ENTITIES ?= 5000

.PHONY: setup dev demo demo-network serve test test-sqlite test-postgresql lint lock bench clean

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

setup: $(VENV)/.installed

dev: setup

# Build the demo province (synthetic Heilongjiang) on the embedded SQLite database and serve it.
demo: setup
	$(VENV)/bin/xinyidai db upgrade
	$(VENV)/bin/xinyidai demo --entities $(ENTITIES) --reset
	$(VENV)/bin/xinyidai serve --host 127.0.0.1 --port $(PORT)

# Four real nodes on loopback (national, province, Harbin, Qiqihar), each in var/network/<code>; Ctrl-C stops them.
BASE_PORT ?= 8100
CITY_ENTITIES ?= 300
demo-network: setup
	$(VENV)/bin/xinyidai demo --network --base-port $(BASE_PORT) --city-entities $(CITY_ENTITIES)

serve: setup
	$(VENV)/bin/xinyidai serve --host 127.0.0.1 --port $(PORT)

# The whole suite on SQLite; again on PostgreSQL when XINYIDAI_TEST_POSTGRES_URL names a database (but the
# README's commands, which the SQLite pass runs — its PostgreSQL benchmark on that database —, and the
# browser and node-process tests, which have their own PostgreSQL run below). Each xdist worker of the
# PostgreSQL pass works in a database of its own beside the named one (tests/conftest.py).
test: setup
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/pytest -q -n 2 --dist loadscope tests
	@if [ -n "$$XINYIDAI_TEST_POSTGRES_URL" ]; then \
	  echo "== the suite again on PostgreSQL (the tests that touch a database)"; \
	  XINYIDAI_TEST_DATABASE_URL="$$XINYIDAI_TEST_POSTGRES_URL" $(VENV)/bin/pytest -q -n 2 --dist loadscope -m "not e2e" \
	    --ignore=tests/network/test_relay.py --ignore=tests/network/test_faults.py \
	    --ignore=tests/network/test_exchange.py --ignore=tests/test_readme.py tests; \
	fi
	@if [ -n "$$XINYIDAI_TEST_NETWORK_POSTGRES_URL" ]; then \
	  echo "== node processes again, the provincial node on PostgreSQL"; \
	  XINYIDAI_TEST_NETWORK_PG_URL="$$XINYIDAI_TEST_NETWORK_POSTGRES_URL" $(VENV)/bin/pytest -q \
	    tests/network/test_relay.py tests/network/test_faults.py; \
	fi

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/lint-imports --no-cache

# Re-lock after changing dependencies in pyproject.toml (needs network to PyPI).
lock:
	$(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile pyproject.toml --extra postgresql --extra dev --python-version 3.11 -o requirements.lock

bench: setup
	$(PY) bench/ingest.py --rows 1000000 --engine sqlite

clean:
	rm -rf $(VENV) var .pytest_cache
