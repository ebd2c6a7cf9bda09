# `make demo` and `make test` set everything up themselves: they create or reuse .venv and install
# the pinned dependencies of requirements.lock (torch 2.13.0 is a CPU wheel on local disk).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.dc2kit-installed
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: setup test lint format demo bench bench-report clean

# The demo runs the shipped weights once they are in the package, else says RANDOM (untrained).
DEMO_WEIGHTS := $(if $(wildcard dc2kit/weights/dc2_mobile.safetensors),,--random-weights)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements.lock
	$(PIP) --no-deps --no-build-isolation -e .
	touch $@

setup: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check dc2kit tests
	$(BIN)/ruff format --check dc2kit tests

format: $(STAMP)
	$(BIN)/ruff format dc2kit tests
	$(BIN)/ruff check --fix dc2kit tests

test: lint
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/dc2kit info --preset paper --size 512x384
	$(BIN)/dc2kit info --preset mobile --size 512x384
	$(BIN)/dc2kit forward --preset mobile --size 512x384 $(DEMO_WEIGHTS)
	mkdir -p demo-out
	$(BIN)/dc2kit capture synth --size 640x480 --out demo-out/synthetic_dynamic_depth.jpg
	$(BIN)/dc2kit capture info demo-out/synthetic_dynamic_depth.jpg
	$(BIN)/dc2kit render demo-out/synthetic_dynamic_depth.jpg --focus 320,240 --blur-strength 12 \
		--out demo-out/refocus_foreground.png
	$(BIN)/dc2kit sweep demo-out/synthetic_dynamic_depth.jpg --blur-strength 12 --frames 12 \
		--out demo-out/focus_sweep.mp4
	$(BIN)/dc2kit export --target all --preset mobile --size 512x384 --precision fp16 \
		--out demo-out/export $(DEMO_WEIGHTS)
	$(BIN)/dc2kit bench-suite --suite demo --results demo-out/bench/results \
		--report demo-out/bench/REPORT.md --plots demo-out/bench/plots $(DEMO_WEIGHTS)

bench: $(STAMP)
	$(BIN)/dc2kit bench-suite --suite standard --random-weights

bench-report: $(STAMP)
	$(BIN)/dc2kit bench-report

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis *.egg-info
