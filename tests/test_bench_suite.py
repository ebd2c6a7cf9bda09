"""The committed suites can run as written: every preset they time has weights to time.

A preset without shipped weights must be listed under its section's `random_weights` (timed
RANDOM, labelled), else `bench-suite` stops at its first row; and one listed there must really
lack shipped weights, or its rows would be untrained when trained ones exist.
"""

from __future__ import annotations

import json

import pytest

from dc2kit.bench.suite import MODEL_SECTIONS, SUITES_FILE, weights_for_preset
from dc2kit.model.builder import WeightsChoice, shipped_weights_file

SUITES = json.loads(SUITES_FILE.read_text())
GRIDS = [
    (suite, section, grid)
    for suite, sections in SUITES.items()
    for section, grid in sections.items()
    if section in MODEL_SECTIONS
]


@pytest.mark.parametrize(("suite", "section", "grid"), GRIDS, ids=lambda v: str(v)[:20])
def test_each_timed_preset_has_shipped_weights_or_is_listed_as_random(suite, section, grid):
    listed = set(grid.get("random_weights", ()))
    assert listed <= set(grid["presets"]), (suite, section)
    for preset in grid["presets"]:
        shipped = shipped_weights_file(preset) is not None
        assert shipped != (preset in listed), (suite, section, preset)


def test_listed_presets_are_timed_random_unless_the_caller_chose_weights():
    grid = {"presets": ["mobile", "paper"], "random_weights": ["paper"]}
    checkpoint = WeightsChoice.checkpoint("paper.safetensors")
    assert weights_for_preset(grid, "paper", None) == WeightsChoice.random()
    assert weights_for_preset(grid, "paper", WeightsChoice()) == WeightsChoice.random()
    assert weights_for_preset(grid, "paper", checkpoint) == checkpoint
    assert weights_for_preset(grid, "paper", WeightsChoice.random(7)) == WeightsChoice.random(7)
    assert weights_for_preset(grid, "mobile", None) is None
