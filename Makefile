# Everything a fresh machine needs: `make demo` and `make test` create .venv and install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PYTEST_ARGS ?=
DEPLOYMENT_LOG := .pytest-deployments.log
BENCH_ARGS ?=

# Let Python cache compiled modules (__pycache__, ignored by git). Some machines set PYTHONDONTWRITEBYTECODE,
# and then every process compiles Airflow's sources again: 3 of the 4.4 s `import airflow.sdk` takes,
# paid by each CLI call, task and deployment process the suite starts.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install test unit check docs demo bench lint format simulator clean

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --python $(BIN)/python -e '.[dev,amazon,google,parquet,docs,celery,postgres,statsd]'
	touch $(INSTALLED)

install: $(INSTALLED)

# The checks first: a lint or type error, or a docs warning, fails `make test`, and so CI, before the suite runs.
# The tests of running deployments (marker `deployment`: the one-machine shape and the production shape) run
# in a second pytest process beside the rest: they mostly wait (the token's rate limit, a lost worker's
# heartbeat, a scheduler's loop), so the two share the cores. Both must pass; the second's output follows
# the first's. (Selecting no deployment test is not a failure.) Each lane lists its slowest tests: the suite
# must stay under 15 minutes on a fresh 2-core machine, install included.
test: check docs
	@$(BIN)/python -m pytest -m deployment --durations=10 $(PYTEST_ARGS) > $(DEPLOYMENT_LOG) 2>&1 & deployments=$$!; \
	$(BIN)/python -m pytest -m "not deployment" --durations=25 $(PYTEST_ARGS); main=$$?; \
	wait $$deployments; second=$$?; \
	echo "---- the deployments' tests (second process) ----"; cat $(DEPLOYMENT_LOG); \
	if [ $$second -eq 5 ]; then second=0; fi; \
	test $$main -eq 0 -a $$second -eq 0

# The fast lane for a newcomer: tests/unit only (no Airflow process, no server, no emulator), under a minute.
unit: $(INSTALLED)
	$(BIN)/python -m pytest tests/unit -q $(PYTEST_ARGS)

# The documentation site into docs/_build/html, from scratch and strict: any warning (a broken
# cross-reference or link, a page missing from the navigation) fails it.
docs: $(INSTALLED)
	rm -rf docs/_build
	$(BIN)/python -m sphinx -W --keep-going -n -E -q -b html docs docs/_build/html

check: lint
	$(BIN)/mypy

demo: $(INSTALLED)
	$(BIN)/python scripts/demo.py

# Peers and their libraries (the official SDK, the http provider) only for the benchmarks.
BENCH_INSTALLED := $(VENV)/.bench-installed
$(BENCH_INSTALLED): $(INSTALLED)
	$(BIN)/uv pip install --python $(BIN)/python -e '.[dev,amazon,google,parquet,docs,celery,postgres,statsd,bench]'
	touch $(BENCH_INSTALLED)

# Several minutes; not part of `make test`. BENCH_ARGS: figure names and/or --quick.
bench: $(BENCH_INSTALLED)
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

simulator: $(INSTALLED)
	$(BIN)/python -m airflow_webflow_audit.testing.simulator --port 8081

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) docs/_build demo-output demo-airflow.log demo-signing-key.pub.pem .pytest_cache .ruff_cache .hypothesis $(DEPLOYMENT_LOG)
