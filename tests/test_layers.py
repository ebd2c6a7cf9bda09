"""Graph forms XNNPACK delegates: nearest ×2 as reshapes and concats, sums as add chains, concats
of at most five inputs; each equals the plain torch form, and the exported DC2Net has no other."""

import pytest
import torch
import torch.nn.functional as F

from dc2kit.model.dc2 import DC2Net, preset_config
from dc2kit.model.kernel_predict import replicate_pad
from dc2kit.model.layers import MAX_CONCAT_INPUTS, add_all, cat_nested, upsample_nearest2x


@pytest.mark.parametrize("shape", [(1, 3, 4, 6), (2, 3, 8, 8), (1, 5, 3, 7)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_nearest_upsampling_is_interpolate_bit_for_bit(shape, dtype):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1)).to(dtype)
    up = upsample_nearest2x(x)
    assert up.dtype == dtype
    assert torch.equal(up, F.interpolate(x, scale_factor=2.0, mode="nearest"))


def test_add_all_is_the_sum_in_order():
    parts = [torch.full((2, 2), float(v)) for v in (1, 10, 100, 1000, 1e4, 1e5)]
    assert torch.equal(add_all(parts), torch.full((2, 2), 111111.0))
    assert add_all(parts[:1]) is parts[0]


@pytest.mark.parametrize("count", [1, 2, 5, 6, 7, 11, 26])
def test_nested_concat_equals_one_concat(count):
    parts = [torch.full((1, 1, 2), float(i)) for i in range(count)]
    assert torch.equal(cat_nested(parts, dim=1), torch.cat(parts, dim=1))


def test_replicate_pad_of_three_is_the_replicate_mode_pad():
    x = torch.randn(1, 3, 5, 6)
    assert torch.equal(replicate_pad(x, 3), F.pad(x, [3] * 4, mode="replicate"))


def _ops(program) -> list:
    return [node for node in program.graph.nodes if node.op == "call_function"]


def test_exported_dc2net_has_no_wide_concat_stack_or_nearest_resize():
    """What litert-torch lowers: every concatenation within XNNPACK's 2–5 inputs, no `stack`
    (a many-input pack) and no nearest resize, in both refiners and the six-rate fusion."""
    torch.manual_seed(0)
    model = DC2Net(preset_config("mobile", 32, 32)).eval()
    program = torch.export.export(model, model.example_inputs()).run_decompositions({})
    targets = [str(node.target) for node in _ops(program)]
    assert not [t for t in targets if "stack" in t or "upsample_nearest" in t]
    widths = [len(node.args[0]) for node in _ops(program) if "aten.cat" in str(node.target)]
    assert widths and max(widths) <= MAX_CONCAT_INPUTS
