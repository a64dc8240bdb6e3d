# The commands of the README: `make run`, `make test` and `make test-fast`. Everything else here serves them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test install chromium lint format benchmark clean secrets

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## make run: the whole product on this machine (web, worker + beat, simulator, demo data). Ctrl-C stops all.
run: install
	WEBADMIT_ALLOW_LOOPBACK=$${WEBADMIT_ALLOW_LOOPBACK:-true} $(BIN)/python manage.py runstack

## make test: installs what the tests need (Chromium where it can) and runs the whole suite.
test: install chromium
	$(BIN)/python -m pytest

# Debian's Chromium drives the browser tests; Playwright cannot download its own browser here.
chromium:
	@if [ -x $(CHROMIUM) ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium for the browser tests..."; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
			|| echo "Could not install chromium; browser tests will be skipped."; \
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then \
		(sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
			|| echo "Could not install chromium; browser tests will be skipped."; \
	else \
		echo "Chromium is not installed: browser tests will be skipped (install it with: sudo apt-get install chromium)."; \
	fi

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
	$(BIN)/python -m benchmarks.notifications

clean:
	rm -rf $(VENV) var
