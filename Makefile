# Set-up and the two entry points: `make demo` (main job on the sample data) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CURATE := $(VENV)/bin/curate
DEMO_DB ?= demo.duckdb
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install browser demo test test-slow test-all bench sample-data clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build of torch first: any other spec pulls a multi-GB CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

# Debian's chromium for the real-browser test (apt; skipped when already there).
browser:
	bash scripts/install_browser.sh

# Ends by serving the review UI on 127.0.0.1:$(PORT); with CI set or NO_UI=1 it stops before that.
PORT ?= 8501
demo: install
	bash scripts/demo.sh $(CURATE) $(DEMO_DB) $(PORT)

test: install browser
	$(PY) -m pytest -q

test-slow: install browser
	$(PY) -m pytest -q -m slow

test-all: install browser
	$(PY) -m pytest -q -m ''

bench: install
	$(PY) -m benchmarks --size small

sample-data: install
	$(PY) sample_data/generate.py

clean:
	rm -rf $(VENV) $(DEMO_DB) out .pytest_cache
