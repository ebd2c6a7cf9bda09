"""DC²'s refiners started from a published DRBNet checkpoint: equivalence and refusals."""

import json
import math

import pytest
import torch

from dc2kit.model import (
    CheckpointError,
    DC2Net,
    DRBNet,
    RefinerConfig,
    init_from_drbnet,
    load_drbnet_state_dict,
    preset_config,
)
from dc2kit.model.drbnet import drbnet_name_to_ours
from dc2kit.model.synthetic import synthetic_scene

SIZE = 16


@pytest.fixture
def published_names(shared_file):
    spec = json.loads(shared_file("data/drbnet_single_state_dict.json").read_text())
    return [t["name"] for t in spec["tensors"]]


def drbnet_state(names, width, kernel_size, seed=0):
    """A state dict in the published checkpoint's names for a single-image DRBNet of these
    widths; unit-gain random weights keep every activation O(1)."""
    shapes = DRBNet(RefinerConfig(width=width, kernel_size=kernel_size)).state_dict()
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name in names:
        shape = shapes[drbnet_name_to_ours(name)].shape
        gain = 1 / math.sqrt(shape[1:].numel()) if len(shape) == 4 else 0.1
        state[name] = torch.randn(shape, generator=generator) * gain
    return state


def state_for(names, config, seed=0):
    return drbnet_state(names, config.refiner_width_mult, config.kernel_size, seed)


CONFIGS = {
    "paper": preset_config("paper", SIZE, SIZE),
    "mobile": preset_config("mobile", SIZE, SIZE),
    "mobile-branch": preset_config("mobile", SIZE, SIZE, branch_conditioning=True),
}


def branch_inputs(generator):
    """Random defocus_t and radial channels at each scale, for branch-conditioned refiners."""
    return [torch.randn(2, 2, SIZE // f, SIZE // f, generator=generator) for f in (8, 4, 2, 1)]


@pytest.mark.parametrize("preset", CONFIGS)
def test_refiners_start_as_the_published_drbnet_whatever_the_conditioning(published_names, preset):
    config = CONFIGS[preset]
    state = state_for(published_names, config)
    model = DC2Net(config)
    init_from_drbnet(model, state)
    reference = DRBNet(
        RefinerConfig(
            width=config.refiner_width_mult,
            kernel_size=config.kernel_size,
            detail_skip=config.detail_skip,  # [ours], parameter-free: the same weights fit
        )
    )
    load_drbnet_state_dict(reference, state)
    generator = torch.Generator().manual_seed(1)
    image = torch.rand(2, 3, SIZE, SIZE, generator=generator) * 2 - 1
    with torch.no_grad():
        expected = reference(image, image)
        for refiner, extra in ((model.refiner_w, 3), (model.refiner_uw, 2)):
            first = refiner.encoder.stage1[0][0].weight
            assert torch.equal(first[:, :3], state["conv1_1.0.weight"])
            assert not first[:, 3:].any()
            for conditioning in (
                torch.zeros(2, extra, SIZE, SIZE),
                torch.randn(2, extra, SIZE, SIZE, generator=generator) * 5,
            ):
                branch = branch_inputs(generator) if config.branch_conditioning else None
                estimates = refiner(torch.cat([image, conditioning], 1), image, branch)
                for ours, theirs in zip(estimates, expected, strict=True):
                    assert theirs.abs().max() > 0.1
                    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)


def test_checkpoint_file_initialises_both_refiners(published_names, tmp_path):
    config = CONFIGS["mobile"]
    state = state_for(published_names, config)
    path = tmp_path / "drbnet.pth"
    torch.save({"state_dict": state}, path)
    model = DC2Net(config)
    init_from_drbnet(model, path)
    for refiner in (model.refiner_w, model.refiner_uw):
        assert torch.equal(
            refiner.blocks[0].kernel_head[2].weight, state["upconv3_kernel.2.weight"]
        )
        assert torch.equal(refiner.decoder[2].up[0].bias, state["upconv1_u.0.bias"])


def refusal(model, checkpoint):
    """The CheckpointError message init_from_drbnet raises; the model must stay untouched."""
    before = {n: t.clone() for n, t in model.state_dict().items()}
    with pytest.raises(CheckpointError) as error:
        init_from_drbnet(model, checkpoint)
    after = model.state_dict()
    assert all(torch.equal(before[n], after[n]) for n in before)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_corrupt_file_is_refused(tmp_path):
    path = tmp_path / "broken.pth"
    path.write_bytes(b"not a checkpoint")
    assert refusal(DC2Net(CONFIGS["mobile"]), path).startswith(f"{path}: cannot read checkpoint")


def test_non_drbnet_state_dict_is_refused(tmp_path):
    path = tmp_path / "dc2.pth"
    torch.save(DC2Net(CONFIGS["mobile"]).state_dict(), path)
    message = refusal(DC2Net(CONFIGS["mobile"]), path)
    assert message.startswith(f"{path}: ") and "'refiner_w.encoder.stage1.0.0.weight'" in message


def test_paper_width_checkpoint_into_mobile_preset_is_refused(published_names, tmp_path):
    path = tmp_path / "paper.pth"
    torch.save(state_for(published_names, CONFIGS["paper"]), path)
    message = refusal(DC2Net(CONFIGS["mobile"]), path)
    assert message.startswith(f"{path} → refiner_w: tensor 'encoder.stage1.0.0.weight'")
    assert "(32, 3, 3, 3)" in message and "(8, 3, 3, 3)" in message


def test_kernel_size_mismatch_is_refused(published_names):
    paper = CONFIGS["paper"]
    k5 = preset_config("paper", SIZE, SIZE, kernel_size=5)
    message = refusal(DC2Net(k5), state_for(published_names, paper))
    assert "'blocks.0.kernel_head.2.weight' has shape (49, 128, 1, 1)" in message


def test_dual_input_checkpoint_is_refused(published_names):
    config = CONFIGS["mobile"]
    state = state_for(published_names, config)
    state["conv1_1.0.weight"] = torch.zeros(8, 6, 3, 3)
    message = refusal(DC2Net(config), state)
    assert "not a single-image DRBNet" in message and "(8, 6, 3, 3)" in message


def test_missing_tensor_is_refused(published_names):
    config = CONFIGS["mobile"]
    state = state_for(published_names, config)
    del state["upconv0_res.2.0.bias"]
    message = refusal(DC2Net(config), state)
    assert "missing, first 'blocks.3.residual_head.2.0.bias'" in message


# --- a whole DC2Net from a dc2kit checkpoint of an earlier architecture ----------------------


def test_a_fusion_that_saw_fewer_maps_widens_with_zeros_and_computes_the_same(tmp_path):
    from dataclasses import replace

    from dc2kit.model import save_dc2
    from dc2kit.model.pretrained import init_from_dc2

    earlier = replace(preset_config("mobile", 32, 32), fusion_sees_defocus=False)
    torch.manual_seed(0)
    old = DC2Net(earlier).eval()
    path = tmp_path / "earlier.safetensors"
    save_dc2(old, path)
    new = DC2Net(replace(earlier, fusion_sees_defocus=True)).eval()
    init_from_dc2(new, path)
    first = new.fusion.blocks[1].body[0].branches[0].weight
    assert first.shape[1] == old.fusion.blocks[1].body[0].branches[0].weight.shape[1] + 2
    assert (first[:, -2:] == 0).all()
    inputs = synthetic_scene(32, 32)
    with torch.no_grad():
        torch.testing.assert_close(new(*inputs).image, old(*inputs).image, rtol=0, atol=0)


def test_a_checkpoint_of_other_widths_is_refused_naming_the_tensor(tmp_path):
    from dc2kit.model import save_dc2
    from dc2kit.model.pretrained import init_from_dc2

    path = tmp_path / "paper.safetensors"
    save_dc2(DC2Net(preset_config("paper", 32, 32)), path)
    with pytest.raises(CheckpointError, match=r"paper\.safetensors: tensor '.*' has shape"):
        init_from_dc2(DC2Net(preset_config("mobile", 32, 32)), path)
