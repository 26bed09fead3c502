# One command sets up and runs the demo, one sets up and runs the tests (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup browser redis node demo test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

# Playwright's own Chromium if installed, else the system's; installs Debian's chromium as root.
browser: setup
	$(BIN)/python -m scripts.browser

# Debian's redis-server for the Redis backend's tests and benchmark (the tests start their own).
redis: setup
	$(BIN)/python -m tests._redis

# Microsoft's Playwright MCP server, pinned in node/ (npm ci); installs Debian's nodejs and npm as root.
node: setup
	$(BIN)/python -m scripts.node

demo: browser
	$(BIN)/sitememory demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint browser redis node
	$(BIN)/python -m pytest

bench: setup browser redis
	$(BIN)/python bench/store.py
	$(BIN)/python bench/navigation.py
	$(BIN)/python bench/redis_store.py
	$(BIN)/python bench/bounds.py
	$(BIN)/python bench/mcp_server.py
	$(BIN)/python bench/decay.py
	$(BIN)/python bench/history.py
	$(BIN)/python bench/report.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
