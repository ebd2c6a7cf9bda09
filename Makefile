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
	$(BIN)/python -m pytest -q --durations=15 -n auto --dist loadfile

demo: $(STAMP)
	$(BIN)/dc2kit info --preset paper --size 512x384
	$(BIN)/dc2kit info --preset mobile --size 512x384
	$(BIN)/dc2kit forward --preset mobile --size 512x384
	mkdir -p demo-out
	# Real phone captures shipped in the package (see dc2kit samples and dc2kit/samples/NOTICE.md).
	$(BIN)/dc2kit samples
	$(BIN)/dc2kit capture info sample:iphone
	$(BIN)/dc2kit render sample:iphone --focus 2280,1810 --fnumber 1.4 \
		--out demo-out/iphone_refocus_pug.png
	$(BIN)/dc2kit sweep sample:iphone --fnumber 1.4 --frames 12 --max-side 512 \
		--out demo-out/iphone_focus_sweep.mp4
	$(BIN)/dc2kit render sample:iphone --focus 2280,1810 --fnumber 1.4 --max-side 512 \
		--engine model --out demo-out/iphone_refocus_model.png
	$(BIN)/dc2kit inspect sample:iphone --focus 2280,1810 --fnumber 1.4 --max-side 512 \
		--out demo-out/iphone_inspect_panel.png
	$(BIN)/dc2kit capture info sample:lensblur
	$(BIN)/dc2kit render sample:lensblur --focus 340,600 --blur-strength 10 \
		--out demo-out/lensblur_refocus_lamp.png
	$(BIN)/dc2kit sweep sample:lensblur --blur-strength 10 --frames 12 --max-side 512 \
		--out demo-out/lensblur_focus_sweep.mp4
	# Round trip through dc2kit's own Dynamic Depth writer and reader (metric depth known).
	$(BIN)/dc2kit capture synth --size 320x240 --out demo-out/synthetic_dynamic_depth.jpg
	$(BIN)/dc2kit capture info demo-out/synthetic_dynamic_depth.jpg
	$(BIN)/dc2kit render demo-out/synthetic_dynamic_depth.jpg --focus 160,120 --blur-strength 8 \
		--out demo-out/synthetic_refocus.png
	$(BIN)/dc2kit evaluate --scenes 4 --report demo-out/quality
	$(BIN)/dc2kit export --target all --preset mobile --size 512x384 --precision fp16 \
		--out demo-out/export
	$(BIN)/dc2kit bench-suite --suite demo --results demo-out/bench/results \
		--report demo-out/bench/REPORT.md --plots demo-out/bench/plots

bench: $(STAMP)
	# Shipped weights where there are some (w8a8 is gated on them); suites.json names the presets
	# timed with random ones.
	$(BIN)/dc2kit bench-suite --suite standard

bench-report: $(STAMP)
	$(BIN)/dc2kit bench-report

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis *.egg-info
