# Patron — two commands do everything on a fresh machine:
#   make demo   set up, seed a demo organisation and serve http://127.0.0.1:8000
#   make test   set up and run every test (SQLite and PostgreSQL suites, browser test)
VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
PYTEST_ARGS ?= -n 2

.PHONY: setup services browser java demo test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

services:
	@bash scripts/services.sh

browser:
	@bash scripts/browser.sh

java:
	@bash scripts/java.sh

demo: setup
	$(BIN)/patron demo

lint: setup
	$(BIN)/ruff check src tests bench

test: setup services browser java lint
	$(BIN)/pytest $(PYTEST_ARGS)

bench: setup services
	$(BIN)/python bench/customers.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/analytics.py

clean:
	rm -rf $(VENV) .patron .pytest_cache .ruff_cache
