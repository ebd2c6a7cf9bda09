"""The synthetic dual-camera data engine: determinism, blur-0 targets, layer occlusion."""

from __future__ import annotations

import pytest
import torch

from dc2kit.model.defocus import defocus_map
from dc2kit.train.data import TASKS, SyntheticDualCamera
from dc2kit.train.optics import LayeredRenderer, disk_kernels
from dc2kit.train.scene import BACKGROUND_SLABS, Scene

FIELDS = ("w", "uw", "defocus_w", "defocus_t", "radial", "target", "sharp", "disparity")


def test_the_same_seed_gives_a_bit_identical_batch_and_streams_differ():
    data = SyntheticDualCamera(32, seed=7)
    first, again = data.batch(3, 4), data.batch(3, 4)
    for name in FIELDS:
        assert torch.equal(getattr(first, name), getattr(again, name)), name
    assert first.tasks == again.tasks
    other_index = data.batch(4, 4)
    other_stream = data.batch(3, 4, stream="validation")
    other_seed = SyntheticDualCamera(32, seed=8).batch(3, 4)
    for batch in (other_index, other_stream, other_seed):
        assert not torch.equal(batch.w, first.w)


def test_batch_shapes_ranges_and_defocus_from_the_one_definition():
    batch = SyntheticDualCamera(48, seed=1).batch(0, 5)
    for name in ("w", "uw", "target", "sharp"):
        tensor = getattr(batch, name)
        assert tensor.shape == (5, 3, 48, 48)
        assert tensor.min() >= -1 and tensor.max() <= 1
    for i in range(5):
        expected = defocus_map(
            batch.disparity[i], float(batch.focus_t[i]), float(batch.strength_t[i])
        )
        assert torch.equal(batch.defocus_t[i], expected)
    assert set(batch.tasks) <= set(TASKS)


@pytest.mark.parametrize("task", TASKS)
def test_every_task_sets_its_focus_and_blur(task):
    batch = SyntheticDualCamera(32, seed=2).batch(0, 3, task=task)
    assert batch.tasks == (task,) * 3
    if task == "all_in_focus":
        assert torch.all(batch.defocus_t == 0)
        # A target with blur 0 is the all-in-focus scene.
        torch.testing.assert_close(batch.target, batch.sharp, atol=2e-5, rtol=0)
    if task == "shallow":
        assert torch.all(batch.defocus_w == 0) and batch.defocus_t.max() > 1
    if task == "identity":
        assert torch.equal(batch.defocus_t, batch.defocus_w)
    if task.startswith("refocus"):
        assert torch.all(batch.focus_t != batch.focus_w)
        near_target = task == "refocus_far_near"
        assert torch.all((batch.focus_t > batch.focus_w) == near_target)


def _two_layer_scene(size: int = 64) -> Scene:
    """A grey background at disparity 0.1 and, on the left half, a white layer at 0.9."""
    background = torch.full((1, 3, size, size), 0.2)
    alpha = torch.zeros(1, 1, 1, size, size)
    alpha[..., : size // 2] = 1.0
    colours = torch.ones(1, 1, 3, size, size)
    return Scene(
        background, torch.full((1, 1, size, size), 0.1), colours, alpha, torch.tensor([[0.9]])
    )


def test_a_blurred_foreground_edge_reveals_the_background_behind_it():
    scene = _two_layer_scene()
    radius = 6.0  # the foreground's blur: strength × (0.9 − 0.1)
    image = LayeredRenderer(scene).render(torch.tensor([0.1]), torch.tensor([radius / 0.8]))
    row = image[0, 0, 32]
    # The blurred foreground alpha at column x is the share of its disk over the left half.
    kernel = disk_kernels(torch.tensor(radius), 2 * 8 + 1)
    columns = kernel.sum(dim=0)  # weight per column offset −8..8
    for x in range(20, 44):
        offsets = torch.arange(-8, 9)
        coverage = float(columns[(x + offsets) < 32].sum())
        expected = 1.0 * coverage + 0.2 * (1 - coverage)
        assert abs(float(row[x]) - expected) < 1e-5, x
    # Just inside the foreground edge the background shows through; far inside it does not.
    assert 0.2 < float(row[30]) < 0.99
    assert abs(float(row[10]) - 1.0) < 1e-5 and abs(float(row[54]) - 0.2) < 1e-5


def test_an_in_focus_foreground_occludes_a_blurred_background():
    scene = _two_layer_scene()
    scene.background[..., 40:] = 0.8  # a background edge to blur
    image = LayeredRenderer(scene).render(torch.tensor([0.9]), torch.tensor([10.0]))
    # The sharp foreground keeps its colour exactly, right up to its edge.
    assert torch.equal(image[0, :, :, :32], torch.ones(3, 64, 32))
    # The background behind is blurred: its edge at column 40 is spread out.
    assert 0.25 < float(image[0, 0, 32, 40]) < 0.75


def test_background_slabs_cover_a_slanted_plane():
    scene = _two_layer_scene()
    scene.alphas.zero_()
    scene.background_disparity = torch.linspace(0.1, 0.4, 64).view(1, 1, 1, 64).expand(1, 1, 64, 64)
    renderer = LayeredRenderer(scene)
    weights = renderer.layers[:, :BACKGROUND_SLABS, 3].sum(dim=1)
    torch.testing.assert_close(weights, torch.ones_like(weights))
    sharp = renderer.render(torch.tensor([0.2]), torch.tensor([0.0]))
    torch.testing.assert_close(sharp, scene.sharp(), atol=1e-6, rtol=0)
