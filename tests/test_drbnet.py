"""The DRBNet refiner: published sizes, checkpoint mapping and strict loading."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from dc2kit.model import (
    CheckpointError,
    ConfigError,
    DC2Config,
    DRBNet,
    RefinerConfig,
    single_image_drbnet,
)
from dc2kit.model.drbnet import drbnet_name_to_ours, load_drbnet_checkpoint, load_drbnet_state_dict
from dc2kit.model.summary import count_macs


@pytest.fixture
def published(shared_file):
    spec = json.loads(shared_file("data/drbnet_single_state_dict.json").read_text())
    generator = torch.Generator().manual_seed(0)
    state = {t["name"]: torch.randn(t["shape"], generator=generator) for t in spec["tensors"]}
    return spec, state


def test_parameter_count_matches_published_checkpoint(published):
    spec, _ = published
    refiner = DRBNet(RefinerConfig(in_channels=3, width=1.0, kernel_size=7))
    assert spec["num_parameters"] == 11_689_616
    assert sum(p.numel() for p in refiner.parameters()) == spec["num_parameters"]


def test_macs_at_256():
    with torch.device("meta"):
        refiner = DRBNet(RefinerConfig())
        x = torch.empty(1, 3, 256, 256)
    count = count_macs(refiner, lambda m: m(x, x))
    assert abs(count.total() / 1e9 - 44.3) / 44.3 < 0.01


def test_loads_published_state_dict_tensor_by_tensor(published):
    _, state = published
    refiner = DRBNet(RefinerConfig())
    load_drbnet_state_dict(refiner, state)
    ours = refiner.state_dict()
    assert len(ours) == len(state) == 138
    for name, tensor in state.items():
        assert torch.equal(ours[drbnet_name_to_ours(name)], tensor), name


def test_mapping_is_a_bijection(published):
    _, state = published
    mapped = {drbnet_name_to_ours(name) for name in state}
    assert mapped == set(DRBNet(RefinerConfig()).state_dict())


def test_mapping_places_heads_at_the_right_scale():
    assert drbnet_name_to_ours("upconv3_kernel.2.weight") == "blocks.0.kernel_head.2.weight"
    assert drbnet_name_to_ours("upconv0_res.2.0.bias") == "blocks.3.residual_head.2.0.bias"
    assert drbnet_name_to_ours("img_d8_feature.0.0.weight") == "blocks.0.image_branch.0.0.weight"
    assert drbnet_name_to_ours("upconv3_u.0.weight") == "decoder.0.up.0.weight"
    assert drbnet_name_to_ours("conv4_4.2.stem.0.2.bias") == "encoder.bottleneck.2.conv2.bias"


def test_missing_tensor_is_named(published):
    _, state = published
    del state["upconv2_res.1.0.weight"]
    with pytest.raises(CheckpointError, match=r"missing, first 'blocks\.1\.residual_head\.1\.0"):
        load_drbnet_state_dict(DRBNet(RefinerConfig()), state)


def test_misshaped_tensor_is_named(published):
    _, state = published
    state["conv2_1.0.weight"] = torch.zeros(64, 32, 5, 5)
    with pytest.raises(CheckpointError, match=r"'encoder\.stage2\.0\.0\.weight' has shape"):
        load_drbnet_state_dict(DRBNet(RefinerConfig()), state)


def test_unknown_tensor_is_named(published):
    _, state = published
    state["attention.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match=r"'attention\.weight'"):
        load_drbnet_state_dict(DRBNet(RefinerConfig()), state)


def test_wrong_kernel_size_for_checkpoint_is_refused(published):
    _, state = published
    with pytest.raises(CheckpointError, match=r"kernel_head\.2\.weight"):
        load_drbnet_state_dict(DRBNet(RefinerConfig(kernel_size=5)), state)


def test_checkpoint_file_round_trip(published, tmp_path):
    _, state = published
    path = tmp_path / "drbnet.pth"
    torch.save({"state_dict": state}, path)
    refiner = DRBNet(RefinerConfig())
    load_drbnet_checkpoint(refiner, str(path))
    assert torch.equal(refiner.encoder.stage1[0][0].weight, state["conv1_1.0.weight"])


def test_corrupt_checkpoint_file_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "broken.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"broken\.pth"):
        load_drbnet_checkpoint(DRBNet(RefinerConfig()), str(path))


def test_four_scales_and_residual_head_flag():
    torch.manual_seed(0)
    refiner = DRBNet(RefinerConfig(in_channels=5, width=0.25, residual_head_activation=False))
    conditioning, image = torch.randn(2, 5, 32, 48), torch.randn(2, 3, 32, 48)
    estimates = refiner(conditioning, image)
    assert [tuple(e.shape) for e in estimates] == [(2, 3, 32 // f, 48 // f) for f in (8, 4, 2, 1)]
    assert isinstance(refiner.blocks[0].residual_head[2][1], torch.nn.Identity)
    with_act = DRBNet(RefinerConfig(width=0.25))
    assert isinstance(with_act.blocks[0].residual_head[2][1], torch.nn.LeakyReLU)


def _zero_heads(refiner: DRBNet) -> DRBNet:
    for block in refiner.blocks:
        for head in (block.kernel_head, block.residual_head):
            for parameter in head.parameters():
                torch.nn.init.zeros_(parameter)
    return refiner


def test_estimate_is_image_plus_kernel_prediction_plus_residual():
    """With zeroed heads the kernel is zero and the residual is lrelu(0) = 0: est = img."""
    refiner = _zero_heads(DRBNet(RefinerConfig(width=0.25)))
    image = torch.randn(1, 3, 16, 16)
    estimates = refiner(torch.randn(1, 3, 16, 16), image)
    assert torch.allclose(estimates[0], torch.nn.functional.avg_pool2d(image, 8), atol=1e-6)
    assert torch.allclose(
        estimates[-1], estimates[-2].repeat_interleave(2, 2).repeat_interleave(2, 3)
    )


def test_detail_skip_with_zeroed_heads_gives_the_image_at_every_scale():
    """The detail bands telescope: upsampled coarse level + band = the finer level, so with
    zeroed heads each estimate is the input average-pooled to its scale, the last the input."""
    refiner = _zero_heads(DRBNet(RefinerConfig(width=0.25, detail_skip=True)))
    image = torch.randn(2, 3, 32, 24)
    estimates = refiner(torch.randn(2, 3, 32, 24), image)
    for estimate, factor in zip(estimates, (8, 4, 2, 1), strict=True):
        expected = F.avg_pool2d(image, factor) if factor > 1 else image
        torch.testing.assert_close(estimate, expected, rtol=0, atol=1e-5)
    plain = _zero_heads(DRBNet(RefinerConfig(width=0.25)))(torch.randn(2, 3, 32, 24), image)
    assert (plain[-1] - image).abs().max() > 0.5  # without it, only the 1/8 level survives


@pytest.mark.parametrize(
    "kwargs",
    [{"kernel_size": 4}, {"kernel_size": 0}, {"kernel_size": -3}, {"width": 0}, {"in_channels": 0}],
)
def test_bad_refiner_config(kwargs):
    with pytest.raises(ConfigError):
        RefinerConfig(**kwargs)


def _spec_conv(x, state, prefix, act=True):
    """One DRBNet conv from the published tensors `prefix + weight/bias`, zero 'same' padding."""
    weight = state[prefix + "weight"]
    y = F.conv2d(x, weight, state[prefix + "bias"], padding=weight.shape[-1] // 2)
    return F.leaky_relu(y, 0.1) if act else y


def _spec_kernel_predict(image, kernels):
    """docs §2.1: replicate pad, then Σ over row-major taps of K[a·k+b] · shifted image."""
    k = round(kernels.shape[1] ** 0.5)
    h, w = image.shape[-2:]
    padded = F.pad(image, [k // 2] * 4, mode="replicate")
    taps = (
        kernels[:, a * k + b : a * k + b + 1] * padded[..., a : a + h, b : b + w]
        for a in range(k)
        for b in range(k)
    )
    return sum(taps)


def _spec_scale(state, factor, level, image, features):
    """One dynamic-residual scale computed from the published tensors as docs §2 writes it."""
    branch = image
    for i in range(3):
        branch = _spec_conv(branch, state, f"img_d{factor}_feature.{i}.0.")
    joint = torch.cat([features, branch], dim=1)  # decoder features first
    kernel, residual = joint, joint
    for i in range(2):
        kernel = _spec_conv(kernel, state, f"upconv{level}_kernel.{i}.0.")
        residual = _spec_conv(residual, state, f"upconv{level}_res.{i}.0.")
    kernel = _spec_conv(kernel, state, f"upconv{level}_kernel.2.", act=False)
    residual = _spec_conv(residual, state, f"upconv{level}_res.2.0.")  # keeps its LeakyReLU
    return image + _spec_kernel_predict(image, kernel) + residual


@pytest.mark.parametrize(("index", "factor", "level"), [(0, 8, 3), (1, 4, 2), (2, 2, 1), (3, 1, 0)])
def test_each_scale_matches_the_published_heads_with_decoder_features_first(
    published, index, factor, level
):
    """Both halves of a head's input have the same width, so only values can catch the order."""
    _, state = published
    # Unit-gain weights keep activations O(1), so a wrong order shows as an O(1) difference.
    state = {n: t / math.sqrt(t[0].numel()) if t.dim() == 4 else t for n, t in state.items()}
    refiner = DRBNet(RefinerConfig())
    load_drbnet_state_dict(refiner, state)
    width = state[f"upconv{level}_kernel.0.0.weight"].shape[1] // 2
    generator = torch.Generator().manual_seed(index)
    image = torch.rand(1, 3, 12, 12, generator=generator) * 2 - 1
    features = torch.randn(1, width, 12, 12, generator=generator)
    with torch.no_grad():
        ours = refiner.blocks[index](image, features)
        spec = _spec_scale(state, factor, level, image, features)
    assert spec.abs().max() > 0.1
    torch.testing.assert_close(ours, spec, rtol=1e-4, atol=1e-5)


def test_only_the_final_estimate_is_clamped():
    torch.manual_seed(0)
    free = DRBNet(RefinerConfig(width=0.25))
    clamped = single_image_drbnet(width=0.25)
    clamped.load_state_dict(free.state_dict())
    image = torch.randn(1, 3, 16, 16) + 3  # far outside [-1, 1], so every scale overshoots
    with torch.no_grad():
        loose, tight = free(image, image), clamped(image, image)
    for coarse_loose, coarse_tight in zip(loose[:3], tight[:3], strict=True):
        assert torch.equal(coarse_loose, coarse_tight)
        assert coarse_tight.abs().max() > 1
    assert loose[-1].abs().max() > 1
    assert torch.equal(tight[-1], loose[-1].clamp(-1, 1))


def test_single_image_drbnet_clamps_and_dc2_refiners_do_not():
    assert single_image_drbnet().config == RefinerConfig(clamp_output=True)
    assert not RefinerConfig().clamp_output
    assert not DC2Config(height=16, width=16).refiner(in_channels=6).clamp_output


def test_foreign_tensor_in_checkpoint_file_names_the_file(published, tmp_path):
    _, state = published
    path = tmp_path / "foreign.pth"
    torch.save({**state, "attention.weight": torch.zeros(1)}, path)
    with pytest.raises(CheckpointError, match=r"foreign\.pth: .*'attention\.weight'"):
        load_drbnet_checkpoint(DRBNet(RefinerConfig()), path)
