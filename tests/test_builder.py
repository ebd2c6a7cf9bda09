"""The one model builder: weights origins, labels, local seeding, checkpoints, shipped weights."""

import hashlib
import tomllib
from importlib import resources
from pathlib import Path

import pytest
import torch

from dc2kit.model import CheckpointError, DC2Net, preset_config, save_dc2
from dc2kit.model.builder import (
    RANDOM_LABEL,
    NoShippedWeightsError,
    WeightsChoice,
    WeightsOrigin,
    build_dc2,
    shipped_weights_file,
)

SIZE = (32, 48)  # (height, width)


def _weights(model):
    return [t.clone() for t in model.state_dict().values()]


def test_a_random_build_leaves_the_global_rng_untouched():
    torch.manual_seed(123)
    expected = torch.rand(4)
    torch.manual_seed(123)
    build_dc2("mobile", SIZE, weights=WeightsChoice.random(7))
    assert torch.equal(torch.rand(4), expected)


def test_random_weights_are_a_function_of_the_seed_and_labelled_random():
    first, origin = build_dc2("mobile", SIZE, weights=WeightsChoice.random(7))
    again, _ = build_dc2("mobile", SIZE, weights=WeightsChoice.random(7))
    other, _ = build_dc2("mobile", SIZE, weights=WeightsChoice.random(8))
    assert all(torch.equal(a, b) for a, b in zip(_weights(first), _weights(again), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(_weights(first), _weights(other), strict=True))
    assert origin.kind == "random" and origin.seed == 7 and not origin.trained
    assert RANDOM_LABEL in origin.label and origin.sha256 is None
    assert not first.training


def test_a_checkpoint_is_rebuilt_at_the_requested_size_with_its_sha256(tmp_path):
    path = tmp_path / "mobile.safetensors"
    saved, _ = build_dc2("mobile", (64, 64), weights=WeightsChoice.random(1))
    save_dc2(saved, path)
    model, origin = build_dc2(None, SIZE, weights=WeightsChoice.checkpoint(path))
    assert (model.config.preset, model.config.height, model.config.width) == ("mobile", *SIZE)
    assert all(torch.equal(a, b) for a, b in zip(_weights(saved), _weights(model), strict=True))
    assert origin.kind == "checkpoint" and origin.path == str(path) and origin.trained
    assert origin.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert RANDOM_LABEL not in origin.label
    _, again = build_dc2("mobile", SIZE, weights=origin.choice())
    assert again == origin


def test_a_checkpoint_of_another_preset_is_refused(tmp_path):
    path = tmp_path / "paper.safetensors"
    save_dc2(DC2Net(preset_config("paper", 32, 32)), path)
    with pytest.raises(CheckpointError, match="holds preset 'paper', not the requested 'mobile'"):
        build_dc2("mobile", SIZE, weights=WeightsChoice.checkpoint(path))


def test_a_missing_checkpoint_is_a_typed_one_line_error(tmp_path):
    with pytest.raises(CheckpointError, match=r"missing\.safetensors: cannot read"):
        build_dc2(None, SIZE, weights=WeightsChoice.checkpoint(tmp_path / "missing.safetensors"))


def test_no_shipped_weights_is_a_typed_error_never_a_silent_random_model():
    assert shipped_weights_file("paper") is None
    with pytest.raises(NoShippedWeightsError, match="no shipped weights for preset 'paper'"):
        build_dc2("paper", SIZE)


def test_the_shipped_mobile_weights_load_when_installed():
    path = shipped_weights_file("mobile")
    if path is None:
        with pytest.raises(NoShippedWeightsError, match="preset 'mobile'"):
            build_dc2(None, SIZE)
        return
    model, origin = build_dc2(None, SIZE)
    assert origin.kind == "shipped" and origin.path == str(path) and origin.trained
    assert (path.with_suffix(".md")).is_file(), "shipped weights need their model card"
    assert model.config.preset == "mobile"


def test_shipped_weights_are_package_data():
    package = Path(str(resources.files("dc2kit.weights")))
    assert package == Path(__file__).resolve().parents[1] / "dc2kit" / "weights"
    pyproject = tomllib.loads((package.parents[1] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["dc2kit.weights"]
    assert {"*.safetensors", "*.md"} <= set(patterns)


def test_an_origin_round_trips_through_its_dict():
    _, origin = build_dc2("mobile", SIZE, weights=WeightsChoice.random(2))
    assert WeightsOrigin.from_dict(origin.to_dict()) == origin
    assert origin.choice() == WeightsChoice.random(2)


def test_a_choice_that_mixes_kinds_is_refused():
    from dc2kit.model import ModelError

    with pytest.raises(ModelError):
        WeightsChoice("random", path="x.safetensors")
    with pytest.raises(ModelError):
        WeightsChoice("checkpoint")
