"""UW's colours matched to W's (model/colour.py) and the presets that use it."""

import torch

from dc2kit.model import DC2Net, preset_config
from dc2kit.model.colour import match_colour


def _image(seed: int, shape=(2, 3, 16, 24)) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed)) * 1.6 - 0.8


def test_a_per_channel_gain_is_undone_exactly():
    w = _image(0) * 0.5  # in [-0.4, 0.4]: no gain below pushes a value out of range
    gains = torch.tensor([0.9, 1.1, 1.05]).view(1, 3, 1, 1)
    uw = ((w + 1) / 2 * gains) * 2 - 1  # another white balance, in [0, 1] display values
    torch.testing.assert_close(match_colour(uw, w), w, rtol=0, atol=1e-6)


def test_the_gain_is_each_channels_mean_ratio_and_the_result_is_clipped():
    uw, w = _image(1), _image(2) * 0.2 + 0.6
    matched = match_colour(uw, w)
    u01, w01 = (uw + 1) / 2, (w + 1) / 2
    gain = w01.mean(dim=(2, 3), keepdim=True) / u01.mean(dim=(2, 3), keepdim=True)
    torch.testing.assert_close(matched, (u01 * gain * 2 - 1).clamp(-1, 1))
    assert matched.max() == 1.0  # bright UW pixels saturate rather than leave [-1, 1]


def test_a_black_channel_stays_black_and_finite():
    uw = _image(3)
    uw[:, 1] = -1.0
    matched = match_colour(uw, _image(4))
    assert torch.isfinite(matched).all() and (matched[:, 1] == -1.0).all()


def test_presets_match_colour_and_let_the_fusion_see_the_defocus_maps():
    for name in ("paper", "mobile"):
        config = preset_config(name, 32, 32)
        assert config.uw_colour_match and config.fusion_sees_defocus


def test_the_model_sees_uw_through_the_match():
    torch.manual_seed(0)
    model = DC2Net(preset_config("mobile", 32, 32)).eval()
    w = _image(5, (1, 3, 32, 32))
    uw = _image(6, (1, 3, 32, 32))
    maps = torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32)
    cast = ((uw + 1) * torch.tensor([0.9, 1.0, 1.1]).view(1, 3, 1, 1) - 1).clamp(-1, 1)
    with torch.no_grad():
        plain = model(w, match_colour(uw, w), *maps).image
        torch.testing.assert_close(model(w, uw, *maps).image, plain)  # matching is idempotent
        assert not torch.equal(model(w, cast, *maps).image, model(w, uw, *maps).image)
