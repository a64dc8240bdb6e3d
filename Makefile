# The commands of the README: `make run`, `make test` and `make test-fast`. Everything else here serves them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test install test-tools lint format benchmark clean secrets

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## make run: the whole product on this machine (web, worker + beat, simulator, demo data). Ctrl-C stops all.
run: install
	WEBADMIT_ALLOW_LOOPBACK=$${WEBADMIT_ALLOW_LOOPBACK:-true} $(BIN)/python manage.py runstack

## make test: installs what the tests need (Debian's chromium and caddy where it can) and runs the whole suite.
test: install test-tools
	$(BIN)/python -m pytest

# Debian packages the tests drive: Chromium for the browser tests (Playwright cannot download its own browser here)
# and Caddy for the TLS proxy in front of the production server (tests/foundation/test_deployment.py). Without them
# those tests are skipped on a laptop, saying so, and fail in CI.
TEST_PACKAGES := chromium caddy
test-tools:
	@missing=""; for package in $(TEST_PACKAGES); do command -v $$package >/dev/null || missing="$$missing $$package"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then sudo=""; \
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo"; \
	else echo "Not installed:$$missing; their tests will be skipped (install with: sudo apt-get install$$missing)."; exit 0; fi; \
	echo "Installing Debian's$$missing for the tests..."; \
	($$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
		|| echo "Could not install$$missing; their tests will be skipped."

## make secrets: adds a new DJANGO_SECRET_KEY and ENCRYPTION_KEYS to .env for production, once: an ENCRYPTION_KEYS
## replaced would leave the stored API keys unreadable.
secrets: install
	@if grep -qs '^\(DJANGO_SECRET_KEY\|ENCRYPTION_KEYS\)=.' .env; then \
		echo ".env already holds secrets: left as they are."; \
	else \
		$(BIN)/python manage.py generate_secrets >> .env && echo "Added DJANGO_SECRET_KEY and ENCRYPTION_KEYS to .env."; \
	fi

## make test-fast: a minute's check, in two processes: everything but the browser tests, the real Celery workers and
## the tests marked slow (those run in `make test`).
.PHONY: test-fast
test-fast: install
	$(BIN)/python -m pytest -m "not browser and not worker and not slow" -n 2

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

benchmark: install
	$(BIN)/python -m benchmarks.refresh
	$(BIN)/python -m benchmarks.cold_refresh
	$(BIN)/python -m benchmarks.dashboard
	$(BIN)/python -m benchmarks.broker
	$(BIN)/python -m benchmarks.csv_export
	$(BIN)/python -m benchmarks.web_threads
	$(BIN)/python -m benchmarks.tabs --rates 100,333,667 --seconds 20
	$(BIN)/python -m benchmarks.notifications

clean:
	rm -rf $(VENV) var
