# Two commands do all the set-up: `make taxi` and `make test`.
SHELL := /bin/bash
PYTHON310 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.10.*/bin/python) $(shell command -v python3.10 2>/dev/null))
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install mariadb postgresql redis chromium taxi lint test unit bench clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml constraints.txt
	@if [ -z "$(PYTHON310)" ]; then echo "Python 3.10 is required (TFX 1.16 supports 3.9-3.10); install it or pass PYTHON310=/path/to/python3.10" >&2; exit 1; fi
	@test -x $(PY) || $(PYTHON310) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt pip setuptools wheel
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test,airflow]'
	@touch $(STAMP)

taxi: install
	$(PY) examples/chicago_taxi/pipeline.py

# The ML Metadata on MySQL tests start a throwaway MariaDB server (Debian's).
mariadb:
	@if ! command -v mariadbd >/dev/null && [ ! -x /usr/sbin/mariadbd ]; then \
	  echo "installing mariadb-server (Debian) for the MySQL metadata tests"; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo -n"; \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q mariadb-server >/dev/null \
	  || { $$sudo apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q mariadb-server >/dev/null; }; \
	fi

# Airflow's scheduler is tested with the LocalExecutor on PostgreSQL (Debian's).
postgresql:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  echo "installing postgresql (Debian) for the Airflow scheduler test"; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo -n"; \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q postgresql >/dev/null \
	  || { $$sudo apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q postgresql >/dev/null; }; \
	fi

# The CeleryExecutor test's broker is a throwaway Redis server (Debian's).
redis:
	@if ! command -v redis-server >/dev/null && [ ! -x /usr/bin/redis-server ]; then \
	  echo "installing redis-server (Debian) for the Airflow CeleryExecutor test"; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo -n"; \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q redis-server >/dev/null \
	  || { $$sudo apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q redis-server >/dev/null; }; \
	fi

# The HTML report is tested in headless Chromium (Debian's).
chromium:
	@if ! command -v chromium >/dev/null; then \
	  echo "installing chromium (Debian) for the report tests"; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo -n"; \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q chromium >/dev/null \
	  || { $$sudo apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q chromium >/dev/null; }; \
	fi

# Two test processes (pytest-xdist): most of a test's time is one-threaded.
PYTEST_WORKERS ?= 2

# Style (ruff) and the layers' import contracts (import-linter), both
# configured in pyproject.toml; .pre-commit-config.yaml runs the same.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

test: install lint mariadb chromium postgresql redis
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

unit: install
	$(PY) -m pytest -q -m 'not e2e' $(PYTEST_ARGS)

# Fluent pipelines against hand-written TFX, measured side by side (~35 min):
# bench/results.json, docs/BENCHMARKS.md, docs/benchmarks.png.
bench: install
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test,bench]'
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) runs build *.egg-info
