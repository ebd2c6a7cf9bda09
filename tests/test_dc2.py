"""DC2Net: outputs, masks, export, radial mask, presets, checkpoints, bad input."""

import math

import pytest
import torch

from dc2kit.model import (
    CheckpointError,
    ConfigError,
    DC2Config,
    DC2Net,
    InputShapeError,
    load_dc2,
    preset_config,
    radial_mask,
    read_dc2_config,
    save_dc2,
)
from dc2kit.model.synthetic import synthetic_scene

HEIGHT, WIDTH = 64, 96


@pytest.fixture(scope="module", params=["paper", "mobile"])
def model(request):
    torch.manual_seed(0)
    return DC2Net(preset_config(request.param, HEIGHT, WIDTH)).eval()


def _random_inputs(batch=1, seed=0):
    generator = torch.Generator().manual_seed(seed)
    images = [torch.rand(batch, 3, HEIGHT, WIDTH, generator=generator) * 2 - 1 for _ in range(2)]
    maps = [torch.rand(batch, 1, HEIGHT, WIDTH, generator=generator) * 10 for _ in range(2)]
    return (*images, *maps)


def test_every_output_has_the_right_shape(model):
    with torch.no_grad():
        output = model(*_random_inputs())
    assert output.image.shape == (1, 3, HEIGHT, WIDTH)
    assert len(output.scales) == 4
    for factor, scale in zip((8, 4, 2, 1), output.scales, strict=True):
        size = (HEIGHT // factor, WIDTH // factor)
        assert scale.fused.shape == scale.refined_w.shape == scale.refined_uw.shape == (1, 3, *size)
        assert scale.mask_w.shape == scale.mask_uw.shape == (1, 1, *size)


def test_masks_and_range(model):
    with torch.no_grad():
        output = model(*_random_inputs(batch=2, seed=3))
    for scale in output.scales:
        for mask in (scale.mask_w, scale.mask_uw):
            assert mask.min() >= 0 and mask.max() <= 1
        assert torch.allclose(scale.mask_w + scale.mask_uw, torch.ones_like(scale.mask_w))
    assert output.image.min() >= -1 and output.image.max() <= 1
    assert torch.equal(output.image, output.scales[-1].fused.clamp(-1, 1))


def test_export_keeps_a_static_graph_with_eight_kernel_predictions(model):
    inputs = _random_inputs()
    program = torch.export.export(model, inputs)
    targets = [n.target for n in program.graph.nodes if n.op == "call_function"]
    assert targets.count(torch.ops.dc2kit.kernel_predict.default) == 8
    assert not [t for t in targets if "sym_size" in str(t)]
    with torch.no_grad():
        expected, got = model(*inputs), program.module()(*inputs)
    assert torch.allclose(got.image, expected.image, atol=1e-6)
    assert torch.allclose(got.scales[0].mask_w, expected.scales[0].mask_w, atol=1e-6)


def test_batch_elements_are_independent(model):
    inputs = _random_inputs(batch=2, seed=5)
    with torch.no_grad():
        both = model(*inputs).image
        second = model(*(x[1:] for x in inputs)).image
    assert torch.allclose(both[1:], second, atol=1e-5)


def test_radial_mask_equals_formula_at_every_pixel():
    height, width = 12, 20
    mask = radial_mask(height, width)
    for y in range(height):
        for x in range(width):
            expected = math.hypot(y - height / 2, x - width / 2) / math.hypot(height / 2, width / 2)
            assert abs(float(mask[y, x]) - expected) < 1e-6
    assert float(mask[height // 2, width // 2]) == 0.0
    assert float(mask[0, 0]) == pytest.approx(1.0)


def test_crop_mask_is_the_crop_of_the_full_frame_mask():
    full = radial_mask(48, 64)
    config = DC2Config(height=16, width=24, full_height=48, full_width=64, crop_top=8, crop_left=32)
    model = DC2Net(config)
    assert torch.equal(model.radial(1)[0, 0], full[8:24, 32:56])
    assert torch.allclose(
        model.radial(8)[0, 0], torch.nn.functional.avg_pool2d(full[None, 8:24, 32:56], 8)[0]
    )


def test_a_radial_input_gives_each_sample_the_mask_of_its_own_crop():
    """One network serves every crop: a forward-time mask equals a network built for the crop."""
    torch.manual_seed(1)
    crop = preset_config("mobile", 16, 24, full_height=48, full_width=64, crop_top=8, crop_left=32)
    cropped = DC2Net(crop).eval()
    generic = DC2Net(preset_config("mobile", 16, 24)).eval()
    generic.load_state_dict(cropped.state_dict())
    generator = torch.Generator().manual_seed(3)
    images = [torch.rand(2, 3, 16, 24, generator=generator) * 2 - 1 for _ in range(2)]
    maps = [torch.rand(2, 1, 16, 24, generator=generator) * 5 for _ in range(2)]
    radial = torch.stack([radial_mask(48, 64, (8, 32, 16, 24)), radial_mask(48, 64)[:16, :24]])
    with torch.no_grad():
        given = generic(*images, *maps, radial=radial.unsqueeze(1)).image
        baked = cropped(*images, *maps).image
        default = generic(*images, *maps).image
    torch.testing.assert_close(given[0], baked[0], atol=1e-6, rtol=0)
    assert not torch.allclose(given[1], baked[1], atol=1e-4)  # another place, another mask
    assert not torch.allclose(default[0], baked[0], atol=1e-4)  # the constant is the full frame's
    with pytest.raises(InputShapeError, match="radial"):
        generic(*images, *maps, radial=radial[:, :, :8])


def test_presets_differ_only_in_widths_and_kernel():
    paper, mobile = preset_config("paper", 64, 64), preset_config("mobile", 64, 64)
    assert (paper.refiner_width_mult, paper.kernel_size, paper.fusion_width_mult) == (1.0, 7, 1.0)
    assert mobile.refiner_width_mult < 1 and mobile.fusion_layout == paper.fusion_layout
    assert len(list(DC2Net(paper).modules())) == len(list(DC2Net(mobile).modules()))


@pytest.mark.parametrize("option", ["branch_conditioning", "fusion_sees_defocus"])
def test_conditioning_options_run(option):
    model = DC2Net(preset_config("mobile", 32, 32, **{option: True}))
    w, uw, dw, dt = synthetic_scene(32, 32)
    assert model(w, uw, dw, dt).image.shape == (1, 3, 32, 32)


def test_checkpoint_round_trip_keeps_weights_and_config(tmp_path):
    torch.manual_seed(1)
    model = DC2Net(preset_config("mobile", 32, 48, fusion_layout="concat")).eval()
    path = tmp_path / "m.safetensors"
    save_dc2(model, path)
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]
    assert read_dc2_config(path) == model.config
    loaded = load_dc2(path)
    inputs = synthetic_scene(32, 48)
    with torch.no_grad():
        assert torch.equal(loaded(*inputs).image, model(*inputs).image)
    resized = load_dc2(path, size=(64, 64))
    assert (resized.config.height, resized.config.width) == (64, 64)
    assert torch.equal(
        resized.refiner_w.encoder.stage1[0][0].weight, model.refiner_w.encoder.stage1[0][0].weight
    )


def test_checkpoint_with_missing_or_misshaped_tensor(tmp_path):
    from safetensors.torch import load_file, save_file

    model = DC2Net(preset_config("mobile", 32, 32))
    path = tmp_path / "m.safetensors"
    save_dc2(model, path)
    tensors, metadata = (
        load_file(path),
        {"format": "dc2kit.DC2Net", "config": model.config.to_json()},
    )
    del tensors["fusion.blocks.3.body.0.branches.5.bias"]
    save_file(tensors, tmp_path / "missing.safetensors", metadata=metadata)
    with pytest.raises(CheckpointError, match=r"missing, first 'fusion\.blocks\.3"):
        load_dc2(tmp_path / "missing.safetensors")
    tensors = load_file(path)
    tensors["refiner_w.blocks.0.kernel_head.2.bias"] = torch.zeros(49)
    save_file(tensors, tmp_path / "shape.safetensors", metadata=metadata)
    with pytest.raises(CheckpointError, match=r"kernel_head\.2\.bias' has shape \(49,\)"):
        load_dc2(tmp_path / "shape.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(CheckpointError, match=r"junk\.safetensors"):
        load_dc2(tmp_path / "junk.safetensors")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"height": 60, "width": 96},
        {"height": 64, "width": 0},
        {"height": 64, "width": 64, "kernel_size": 6},
        {"height": 64, "width": 64, "kernel_size": -1},
        {"height": 64, "width": 64, "full_height": 64, "crop_top": 8},
        {"height": 64, "width": 64, "fusion_layout": "tree"},
        {"height": 64, "width": 64, "formulation": "fft"},
    ],
)
def test_bad_config(kwargs):
    with pytest.raises(ConfigError):
        DC2Config(**kwargs)


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown preset"):
        preset_config("tiny", 64, 64)


@pytest.mark.parametrize("which", range(4))
def test_wrong_input_shape_is_named(which):
    model = DC2Net(preset_config("mobile", 32, 32))
    inputs = list(synthetic_scene(32, 32))
    names = ("w", "uw", "defocus_w", "defocus_t")
    inputs[which] = torch.zeros(1, 2, 32, 32)
    with pytest.raises(InputShapeError, match=f"^{names[which]} has shape"):
        model(*inputs)
    inputs = list(synthetic_scene(32, 32))
    inputs[which] = inputs[which][..., :24]
    with pytest.raises(InputShapeError):
        model(*inputs)
