# Set-up and the two entry points: `make demo` (main job on the sample data) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CURATE := $(VENV)/bin/curate
DEMO_DB ?= demo.duckdb
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install demo test test-all bench sample-data clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build of torch first: any other spec pulls a multi-GB CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: install
	bash scripts/demo.sh $(CURATE) $(DEMO_DB)

test: install
	$(PY) -m pytest -q

test-all: install
	$(PY) -m pytest -q -m ''

bench: install
	$(PY) -m benchmarks --size small

sample-data: install
	$(PY) sample_data/generate.py

clean:
	rm -rf $(VENV) $(DEMO_DB) .pytest_cache
