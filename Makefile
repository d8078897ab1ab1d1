# The README's two commands: `make run` and `make test`. Everything else is a helper of those.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install services browser lint typecheck importlint pytest miniprogram deploy-check bench clean

$(STAMP): pyproject.toml
	PYTHON=$(PYTHON) bash scripts/venv.sh
	@touch $(STAMP)

install: $(STAMP)

## make run: migrate the SQLite DB, load the demo city when empty, serve on http://127.0.0.1:8000
## (with the local fake WeChat Pay / Alipay gateways, so demo fines can be paid: docs/demo-payments.md)
run: install
	$(BIN)/zhcg migrate
	$(BIN)/zhcg demo --if-empty
	ZHCG_PAYMENTS__SANDBOX=$${ZHCG_PAYMENTS__SANDBOX:-true} $(BIN)/zhcg serve --host 127.0.0.1 --port 8000

## make test: lint, types, layer contracts, pytest on SQLite and on PostgreSQL (with Redis and Chromium),
## then the mini-program's jest tests and the production layout's checks
test: install services browser lint typecheck importlint pytest miniprogram deploy-check

services:
	bash scripts/services.sh

browser:
	bash scripts/browser.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

importlint: install
	$(BIN)/lint-imports

pytest: install
	ZHCG_TEST_DB=sqlite $(BIN)/pytest
	ZHCG_TEST_DB=postgresql $(BIN)/pytest

## the mini-program's jest tests (Node from Debian if missing, packages from the npm registry)
miniprogram: install
	bash scripts/miniprogram.sh

## deploy/ (systemd units, Procfile, nginx, settings file) still matches the code, and a pg_dump restores:
## docs/deploy.md. nginx is unpacked from Debian's package into var/tools when not installed (not started).
deploy-check: install
	$(BIN)/python scripts/deploy_check.py --fetch-nginx var/tools

bench: install
	bash scripts/bench.sh

clean:
	rm -rf $(VENV) var/zhcg.db* var/demo .mypy_cache .ruff_cache .pytest_cache
