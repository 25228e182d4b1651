# One entry point for every habit. Each target bootstraps .venv itself on a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000
URL    ?=
PROVIDER ?= kie
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install system-deps test check format fixtures serve bench profile contract contract-live drift clean
ARGS ?=

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the package with its dev extras

# Debian packages the tests use for real (never a stand-in), as command:package: redis-server
# for the Redis store; chromium and its driver for the inspector's browser tests.
SYSTEM_DEPS := redis-server:redis-server chromium:chromium chromedriver:chromium-driver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

system-deps: ## install the Debian packages the tests need when missing (redis-server, chromium, chromium-driver)
	@missing=""; for d in $(SYSTEM_DEPS); do command -v $${d%%:*} >/dev/null 2>&1 || missing="$$missing $${d##*:}"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing (Debian packages the tests use)"; \
		$(SUDO) apt-get update -q >/dev/null && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing >/dev/null; \
	fi

fixtures: $(STAMP) ## (re)make the fixture images, including the oversized one
	$(PY) -m fixtures.make_images

test: $(STAMP) system-deps ## run every test (the project's own, examples, plugin and contract kit)
	$(PY) -m fixtures.make_images --only-missing
	$(PY) -m pytest $(PYTEST_ARGS)

check: $(STAMP) ## ruff format --check, ruff check, mypy (strict)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

format: $(STAMP) ## apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

serve: $(STAMP) ## run the fake on $(HOST):$(PORT) with its defaults (extra flags: ARGS="--clock manual")
	$(VENV)/bin/ideogram-mock serve --host $(HOST) --port $(PORT) $(ARGS)

contract: $(STAMP) ## the contract kit (PROVIDER=kie): in-process fake, or any server with URL=http://127.0.0.1:8000
	CONTRACT_URL="$(URL)" $(PY) -m pytest --pyargs ideogram_mock.kit.$(PROVIDER) -p no:cacheprovider -v $(PYTEST_ARGS)

P_ENV := $(shell echo $(PROVIDER) | tr a-z A-Z)

contract-live: $(STAMP) ## the kit against the real endpoint: needs <PROVIDER>_BASE_URL and <PROVIDER>_API_KEY (e.g. KIE_…, SEGMIND_…)
	@test -n "$$$(P_ENV)_BASE_URL" -a -n "$$$(P_ENV)_API_KEY" || (echo "set $(P_ENV)_BASE_URL and $(P_ENV)_API_KEY (Scenario also SCENARIO_API_SECRET; $(P_ENV)_READ_ONLY=1 spends nothing)"; exit 2)
	KIT_TARGET=live $(PY) -m pytest --pyargs ideogram_mock.kit.$(PROVIDER) -p no:cacheprovider -v $(PYTEST_ARGS)

drift: $(STAMP) ## drift report (reports/drift.md + drift.xml) for URL=… (default: the fake), LIVE=1 for the real PROVIDER
	$(VENV)/bin/ideogram-mock drift --provider $(PROVIDER) $(if $(URL),--url $(URL)) $(if $(LIVE),--live --url $$$(P_ENV)_BASE_URL --api-key $$$(P_ENV)_API_KEY) --out reports

bench: $(STAMP) ## benchmarks (wrk over loopback + in-process); figures and ratios, never asserts; installs wrk and redis-server when missing
	@$(MAKE) -s system-deps SYSTEM_DEPS="redis-server:redis-server wrk:wrk"
	$(PY) -m bench.run --json reports/bench.json

profile: $(STAMP) ## cProfile of the hot paths through the ASGI app: µs per request against bare starlette, top costs (ARGS="recordInfo")
	$(PY) -m bench.profile $(ARGS)

clean: ## remove everything the targets create: the venv, caches, reports, builds, generated fixtures
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .schemathesis reports build dist *.egg-info
	rm -f fixtures/images/oversized.png
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
