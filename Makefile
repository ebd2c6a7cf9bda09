# `make demo` and `make test` set everything up themselves: they create or reuse .venv and install
# the pinned dependencies of requirements.lock (torch 2.13.0 is a CPU wheel on local disk).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.dc2kit-installed
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: setup test lint format demo bench bench-report clean

# The demo runs the shipped weights once they are in the package, else says RANDOM (untrained).

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
	$(BIN)/python -m pytest -q --durations=15

demo: $(STAMP)
	$(BIN)/dc2kit info --preset paper --size 512x384
	$(BIN)/dc2kit info --preset mobile --size 512x384
	$(BIN)/dc2kit forward --preset mobile --size 512x384
	mkdir -p demo-out
	$(BIN)/dc2kit capture synth --size 640x480 --out demo-out/synthetic_dynamic_depth.jpg
	$(BIN)/dc2kit capture info demo-out/synthetic_dynamic_depth.jpg
	$(BIN)/dc2kit render demo-out/synthetic_dynamic_depth.jpg --focus 320,240 --blur-strength 12 \
		--out demo-out/refocus_foreground.png
	$(BIN)/dc2kit sweep demo-out/synthetic_dynamic_depth.jpg --blur-strength 12 --frames 12 \
		--out demo-out/focus_sweep.mp4
	$(BIN)/dc2kit render demo-out/synthetic_dynamic_depth.jpg --focus 320,240 --blur-strength 12 \
		--w-focus 40,40 --w-blur-strength 4 --engine model --out demo-out/refocus_model.png
	$(BIN)/dc2kit inspect demo-out/synthetic_dynamic_depth.jpg --focus 320,240 --blur-strength 12 \
		--w-focus 40,40 --w-blur-strength 4 --out demo-out/inspect_panel.png
	$(BIN)/dc2kit evaluate --scenes 4 --report demo-out/quality
	$(BIN)/dc2kit export --target all --preset mobile --size 512x384 --precision fp16 \
		--out demo-out/export
	$(BIN)/dc2kit bench-suite --suite demo --results demo-out/bench/results \
		--report demo-out/bench/REPORT.md --plots demo-out/bench/plots

bench: $(STAMP)
	$(BIN)/dc2kit bench-suite --suite standard --random-weights

bench-report: $(STAMP)
	$(BIN)/dc2kit bench-report

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis *.egg-info
