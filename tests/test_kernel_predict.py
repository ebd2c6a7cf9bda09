"""The kernel-prediction operator: formulations agree, edge padding, gradients, export."""

import pytest
import torch
from torch import nn

from dc2kit.model import InputShapeError, kernel_predict
from dc2kit.model.kernel_predict import IMPLEMENTATIONS

FAST = ("shift", "im2col")


def _operands(k: int, batch: int = 3, channels: int = 3, height: int = 11, width: int = 17):
    generator = torch.Generator().manual_seed(k)
    image = torch.randn(batch, channels, height, width, generator=generator)
    kernels = torch.randn(batch, k * k, height, width, generator=generator)
    return image, kernels


def _direct(image: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """The formula of docs §2.1 written pixel by pixel with clamped indices (independent oracle)."""
    n, _, h, w = image.shape
    k = int(kernels.shape[1] ** 0.5)
    out = torch.zeros_like(image)
    for y in range(h):
        for x in range(w):
            for a in range(k):
                for b in range(k):
                    yy = min(max(y + a - k // 2, 0), h - 1)
                    xx = min(max(x + b - k // 2, 0), w - 1)
                    out[:, :, y, x] += kernels[:, a * k + b, y, x].view(n, 1) * image[:, :, yy, xx]
    return out


def test_reference_matches_pixelwise_formula():
    image, kernels = _operands(3, batch=2, height=5, width=6)
    expected = _direct(image.double(), kernels.double())
    assert torch.allclose(kernel_predict(image, kernels, "reference").double(), expected, atol=1e-5)


@pytest.mark.parametrize("k", [1, 3, 5, 7])
@pytest.mark.parametrize("formulation", FAST)
def test_formulations_agree_with_reference(k, formulation):
    image, kernels = _operands(k)
    reference = kernel_predict(image, kernels, "reference")
    assert (kernel_predict(image, kernels, formulation) - reference).abs().max() < 1e-5


@pytest.mark.parametrize("formulation", [*FAST, "reference"])
def test_centre_one_hot_kernel_is_identity(formulation):
    k = 5
    image, _ = _operands(k)
    kernels = torch.zeros(3, k * k, 11, 17)
    kernels[:, k * k // 2] = 1.0
    assert torch.equal(kernel_predict(image, kernels, formulation), image)


@pytest.mark.parametrize("formulation", [*FAST, "reference"])
def test_constant_image_scales_by_kernel_sum_including_borders(formulation):
    """Zero padding would darken the borders; edge padding keeps s × value everywhere."""
    k, value = 7, 0.75
    image = torch.full((2, 3, 9, 13), value)
    raw = torch.rand(2, k * k, 9, 13, generator=torch.Generator().manual_seed(1))
    sums = torch.linspace(0.5, 2.0, 9 * 13).view(1, 1, 9, 13)
    kernels = raw / raw.sum(1, keepdim=True) * sums
    out = kernel_predict(image, kernels, formulation)
    assert torch.allclose(out, (value * sums).expand_as(out), atol=1e-6)


@pytest.mark.parametrize("formulation", FAST)
def test_gradients_match_reference(formulation):
    image, kernels = _operands(5, batch=2, height=7, width=9)
    grad_out = torch.randn(2, 3, 7, 9, generator=torch.Generator().manual_seed(7))

    def grads(name):
        x = image.clone().requires_grad_()
        kk = kernels.clone().requires_grad_()
        (kernel_predict(x, kk, name) * grad_out).sum().backward()
        return x.grad, kk.grad

    ref_x, ref_k = grads("reference")
    got_x, got_k = grads(formulation)
    assert torch.allclose(got_x, ref_x, atol=1e-5)
    assert torch.allclose(got_k, ref_k, atol=1e-5)


def test_gradcheck_in_double():
    image, kernels = _operands(3, batch=1, channels=2, height=4, width=5)
    inputs = (image.double().requires_grad_(), kernels.double().requires_grad_())
    assert torch.autograd.gradcheck(lambda x, kk: kernel_predict(x, kk, "im2col"), inputs)


class _OpOnly(nn.Module):
    def forward(self, image, kernels):
        return kernel_predict(image, kernels, "im2col") + 1.0


def test_export_keeps_one_named_node():
    image, kernels = _operands(7, batch=1)
    program = torch.export.export(_OpOnly(), (image, kernels))
    targets = [node.target for node in program.graph.nodes if node.op == "call_function"]
    matching = [t for t in targets if "dc2kit.kernel_predict" in str(t)]
    assert len(matching) == 1
    assert matching[0] is torch.ops.dc2kit.kernel_predict.default
    node = next(n for n in program.graph.nodes if n.target is matching[0])
    assert node.args[2] == "im2col"
    assert torch.allclose(program.module()(image, kernels), _OpOnly()(image, kernels))


def test_fast_formulations_avoid_unexportable_ops():
    """shift and im2col trace to 4-D ops with no unfold, gather or replicate pad."""
    image, kernels = _operands(5, batch=1)
    forbidden = ("unfold", "im2col", "gather", "index", "replication_pad", "pad")
    for name in FAST:
        graph = torch.fx.experimental.proxy_tensor.make_fx(IMPLEMENTATIONS[name])(image, kernels)
        ops = {str(node.target) for node in graph.graph.nodes if node.op == "call_function"}
        assert not [op for op in ops if any(word in op for word in forbidden)], (name, ops)
        for node in graph.graph.nodes:
            value = node.meta.get("val")
            assert value is None or value.dim() <= 4, (name, node.target)


@pytest.mark.parametrize(
    ("image_shape", "kernel_shape"),
    [
        ((1, 3, 8, 8), (1, 16, 8, 8)),  # even k
        ((1, 3, 8, 8), (1, 10, 8, 8)),  # not a square
        ((1, 3, 8, 8), (1, 9, 8, 7)),  # spatial mismatch
        ((2, 3, 8, 8), (1, 9, 8, 8)),  # batch mismatch
        ((3, 8, 8), (9, 8, 8)),  # not 4-D
    ],
)
def test_bad_shapes_raise_typed_error(image_shape, kernel_shape):
    with pytest.raises(InputShapeError):
        kernel_predict(torch.zeros(image_shape), torch.zeros(kernel_shape))


def test_unknown_formulation_raises_typed_error():
    with pytest.raises(InputShapeError, match="unknown kernel-prediction formulation"):
        kernel_predict(torch.zeros(1, 3, 4, 4), torch.zeros(1, 9, 4, 4), "fft")
