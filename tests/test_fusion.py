"""ASPP fusion: Table 1 as data, the three layouts, masks and the coarse-to-fine residual."""

import pytest
import torch

from dc2kit.model import ASPP_TABLE, ASPPFusion, ConfigError, FusionConfig
from dc2kit.model.fusion import AtrousLayer


def _inputs(batch=2, height=32, width=48, seed=0):
    generator = torch.Generator().manual_seed(seed)
    sizes = [(height // f, width // f) for f in (8, 4, 2, 1)]
    refined_w = tuple(torch.randn(batch, 3, h, w, generator=generator) for h, w in sizes)
    refined_uw = tuple(torch.randn(batch, 3, h, w, generator=generator) for h, w in sizes)
    radial = tuple(torch.rand(batch, 1, h, w, generator=generator) for h, w in sizes)
    defocus = tuple(torch.rand(batch, 2, h, w, generator=generator) for h, w in sizes)
    return refined_w, refined_uw, radial, defocus


def test_table_one_is_the_supplement():
    assert [(s.factor, s.rates, s.channels) for s in ASPP_TABLE] == [
        (8, (1, 3, 5), (16, 32, 2)),
        (4, (1, 3, 6, 12), (16, 32, 2)),
        (2, (1, 3, 6, 12, 15), (16, 32, 2)),
        (1, (1, 3, 6, 12, 15, 18), (16, 32, 32, 2)),
    ]


def test_blocks_follow_the_table():
    fusion = ASPPFusion(FusionConfig())
    for block, spec in zip(fusion.blocks, ASPP_TABLE, strict=True):
        layers = [m for m in block.body if isinstance(m, AtrousLayer)]
        assert [layer.branches[0].out_channels for layer in layers] == list(spec.channels)
        for layer in layers:
            assert tuple(conv.dilation[0] for conv in layer.branches) == spec.rates
            assert all(conv.padding[0] == conv.dilation[0] for conv in layer.branches)


def test_default_size_is_about_175k_parameters():
    params = sum(p.numel() for p in ASPPFusion(FusionConfig()).parameters())
    assert 165_000 < params < 185_000


@pytest.mark.parametrize("layout", ["sum", "concat", "chains"])
def test_masks_are_complementary_and_fuse(layout):
    torch.manual_seed(0)
    fusion = ASPPFusion(FusionConfig(layout=layout))
    refined_w, refined_uw, radial, _ = _inputs()
    for index, scale in enumerate(fusion(refined_w, refined_uw, radial)):
        assert scale.mask_w.min() >= 0 and scale.mask_w.max() <= 1
        assert torch.allclose(scale.mask_w + scale.mask_uw, torch.ones_like(scale.mask_w))
        assert torch.allclose(scale.mask_w, torch.softmax(scale.logits, dim=1)[:, :1], atol=1e-6)
        expected = scale.mask_w * refined_w[index] + scale.mask_uw * refined_uw[index]
        assert torch.allclose(scale.fused, expected)


def test_finer_logits_are_block_output_plus_upsampled_coarser_logits():
    torch.manual_seed(0)
    fusion = ASPPFusion(FusionConfig())
    refined_w, refined_uw, radial, _ = _inputs()
    scales = fusion(refined_w, refined_uw, radial)
    upsampled = torch.nn.functional.interpolate(
        scales[1].logits, scale_factor=2, mode="bilinear", align_corners=False
    )
    block_in = torch.cat([refined_w[2], refined_uw[2], upsampled, radial[2]], dim=1)
    assert torch.allclose(scales[2].logits, fusion.blocks[2](block_in) + upsampled, atol=1e-6)


def test_sum_layer_is_sum_of_dilated_convs():
    layer = AtrousLayer(4, 5, (1, 3), project=False)
    x = torch.randn(1, 4, 12, 12)
    expected = sum(
        torch.nn.functional.conv2d(x, c.weight, c.bias, padding=r, dilation=r)
        for c, r in zip(layer.branches, (1, 3), strict=True)
    )
    assert torch.allclose(layer(x), expected, atol=1e-6)


def test_fusion_can_see_both_defocus_maps_appended_last():
    torch.manual_seed(0)
    fusion = ASPPFusion(FusionConfig(sees_defocus=True))
    assert fusion.blocks[0].body[0].branches[0].in_channels == 9  # Ŵ, Û, radial, d_t, d_w
    refined_w, refined_uw, radial, defocus = _inputs()
    other = tuple(d.flip(-1) for d in defocus)
    seen = fusion(refined_w, refined_uw, radial, defocus)[-1].fused
    assert seen.shape == (2, 3, 32, 48)
    assert not torch.allclose(seen, fusion(refined_w, refined_uw, radial, other)[-1].fused)
    with torch.no_grad():  # zero the weights of each block's last two inputs: the maps
        for block in fusion.blocks:
            for branch in block.body[0].branches:
                branch.weight[:, -2:] = 0
    blind = fusion(refined_w, refined_uw, radial, defocus)[-1].fused
    torch.testing.assert_close(blind, fusion(refined_w, refined_uw, radial, other)[-1].fused)


def test_unknown_layout():
    with pytest.raises(ConfigError, match="layout"):
        FusionConfig(layout="pyramid")
