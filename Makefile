# Two set-up commands: `make run` (portal + demo data, embedded defaults) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: run test lint typecheck bench bench-fleet clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	@rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP)
	$(PY) scripts/run.py

test: $(STAMP)
	bash scripts/test.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-logo

typecheck: $(STAMP)
	$(VENV)/bin/mypy .

clean:
	rm -rf var staticfiles .coverage htmlcov .pytest_cache .mypy_cache .ruff_cache .import_linter_cache

bench: $(STAMP)
	PREFLIGHT_ENV=test $(PY) scripts/bench_checks.py
	PREFLIGHT_ENV=test $(PY) scripts/bench_cli.py
	$(PY) scripts/bench_run_page.py
	PREFLIGHT_ENV=test $(PY) scripts/bench_dashboards.py
	PREFLIGHT_ENV=test $(PY) scripts/bench_catalog.py

# The nightly sweep of N services (default 500) on real workers, Redis db 13 and a database
# of its own; FLEET_ARGS="--services 100 --concurrency 16" to change.
bench-fleet: $(STAMP)
	PREFLIGHT_ENV=test $(PY) scripts/bench_fleet.py $(FLEET_ARGS)
