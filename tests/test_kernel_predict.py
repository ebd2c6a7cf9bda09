"""The kernel-prediction operator: formulations agree, edge padding, gradients, export."""

import pytest
import torch
from torch import nn

from dc2kit.model import InputShapeError, kernel_predict
from dc2kit.model.kernel_predict import FORMULATIONS, IMPLEMENTATIONS

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


def _op_grads(image, kernels, grad_out, formulation="shift", wrt=(True, True)):
    """Gradients through the op (its analytical backward); None for an input not asked for."""
    x = image.clone().requires_grad_(wrt[0])
    kk = kernels.clone().requires_grad_(wrt[1])
    (kernel_predict(x, kk, formulation) * grad_out).sum().backward()
    return x.grad, kk.grad


def _autograd_reference_grads(image, kernels, grad_out):
    """Gradients of the plain-torch `reference` (pad + unfold) under autograd, not the op."""
    x = image.clone().requires_grad_()
    kk = kernels.clone().requires_grad_()
    (IMPLEMENTATIONS["reference"](x, kk) * grad_out).sum().backward()
    return x.grad, kk.grad


@pytest.mark.parametrize("k", [1, 3, 5, 7])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize(("height", "width"), [(7, 9), (3, 5), (1, 4)])
@pytest.mark.parametrize("formulation", FORMULATIONS)
def test_gradients_match_reference_autograd(k, channels, height, width, formulation):
    """Includes images smaller than the kernel, where one pixel feeds many border taps."""
    image, kernels = _operands(k, batch=2, channels=channels, height=height, width=width)
    grad_out = torch.randn(2, channels, height, width, generator=torch.Generator().manual_seed(7))
    ref_x, ref_k = _autograd_reference_grads(image, kernels, grad_out)
    got_x, got_k = _op_grads(image, kernels, grad_out, formulation)
    assert (got_x - ref_x).abs().max() < 1e-5
    assert (got_k - ref_k).abs().max() < 1e-5


@pytest.mark.parametrize(("k", "channels", "height", "width"), [(3, 2, 4, 5), (5, 1, 3, 6)])
def test_gradcheck_in_double(k, channels, height, width):
    image, kernels = _operands(k, batch=2, channels=channels, height=height, width=width)
    inputs = (image.double().requires_grad_(), kernels.double().requires_grad_())
    assert torch.autograd.gradcheck(lambda x, kk: kernel_predict(x, kk, "im2col"), inputs)


def _reads_per_pixel(offset: int, size: int, pad: int) -> torch.Tensor:
    """How often each pixel of a line is read by tap `offset`: the edge pixel also stands in
    for the padding, so it is read for every output within `pad - offset` of the edge."""
    sources = (torch.arange(size) + offset - pad).clamp(0, size - 1)
    return torch.bincount(sources, minlength=size).float()


@pytest.mark.parametrize("corner", ["top-left", "top-right", "bottom-left", "bottom-right"])
def test_replicate_pad_fold_piles_gradient_onto_edges(corner):
    """A kernel one-hot on a corner tap reads one shifted pixel; with g = 1 the image gradient
    counts reads, so the edge rows and columns, and most of all a corner, carry the padding's."""
    k, height, width = 5, 6, 8
    a = 0 if corner.startswith("top") else k - 1
    b = 0 if corner.endswith("left") else k - 1
    kernels = torch.zeros(2, k * k, height, width)
    kernels[:, a * k + b] = 1.0
    image, _ = _operands(k, batch=2, channels=3, height=height, width=width)
    grad_x, _ = _op_grads(image, kernels, torch.ones(2, 3, height, width))
    rows, cols = _reads_per_pixel(a, height, k // 2), _reads_per_pixel(b, width, k // 2)
    assert torch.equal(grad_x, torch.outer(rows, cols).expand_as(grad_x))
    corner_y, corner_x = (0 if a == 0 else height - 1), (0 if b == 0 else width - 1)
    assert grad_x[0, 0, corner_y, corner_x] == (k // 2 + 1) ** 2


@pytest.mark.parametrize("which", ["image", "kernels"])
def test_gradient_when_only_one_input_requires_it(which):
    image, kernels = _operands(5, batch=2, height=7, width=9)
    grad_out = torch.randn(2, 3, 7, 9, generator=torch.Generator().manual_seed(3))
    wants = (which == "image", which == "kernels")
    got = _op_grads(image, kernels, grad_out, wrt=wants)
    expected = _autograd_reference_grads(image, kernels, grad_out)
    for wanted, grad, ref in zip(wants, got, expected, strict=True):
        if wanted:
            assert (grad - ref).abs().max() < 1e-5
        else:
            assert grad is None


def test_gradient_of_a_plain_sum_broadcast_upstream_gradient():
    """`.sum().backward()` hands the op a stride-0 upstream gradient; results stay right."""
    image, kernels = _operands(3, batch=2, height=5, width=6)
    x, kk = image.clone().requires_grad_(), kernels.clone().requires_grad_()
    kernel_predict(x, kk).sum().backward()
    ref_x, ref_k = _autograd_reference_grads(image, kernels, torch.ones(2, 3, 5, 6))
    assert (x.grad - ref_x).abs().max() < 1e-5
    assert (kk.grad - ref_k).abs().max() < 1e-5


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


def test_under_bf16_autocast_the_op_sums_its_taps_in_fp32():
    generator = torch.Generator().manual_seed(3)
    image = torch.randn(1, 3, 12, 10, generator=generator).bfloat16()
    kernels = torch.randn(1, 25, 12, 10, generator=generator).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = kernel_predict(image, kernels)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, kernel_predict(image.float(), kernels.float()))
