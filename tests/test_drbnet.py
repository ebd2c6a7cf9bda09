"""The DRBNet refiner: published sizes, checkpoint mapping and strict loading."""

import json

import pytest
import torch

from dc2kit.model import CheckpointError, ConfigError, DRBNet, RefinerConfig
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


def test_estimate_is_image_plus_kernel_prediction_plus_residual():
    """With zeroed heads the kernel is zero and the residual is lrelu(0) = 0: est = img."""
    refiner = DRBNet(RefinerConfig(width=0.25))
    for block in refiner.blocks:
        for head in (block.kernel_head, block.residual_head):
            for parameter in head.parameters():
                torch.nn.init.zeros_(parameter)
    image = torch.randn(1, 3, 16, 16)
    estimates = refiner(torch.randn(1, 3, 16, 16), image)
    assert torch.allclose(estimates[0], torch.nn.functional.avg_pool2d(image, 8), atol=1e-6)
    assert torch.allclose(
        estimates[-1], estimates[-2].repeat_interleave(2, 2).repeat_interleave(2, 3)
    )


@pytest.mark.parametrize(
    "kwargs",
    [{"kernel_size": 4}, {"kernel_size": 0}, {"kernel_size": -3}, {"width": 0}, {"in_channels": 0}],
)
def test_bad_refiner_config(kwargs):
    with pytest.raises(ConfigError):
        RefinerConfig(**kwargs)
