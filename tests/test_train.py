"""Training: the loss falls, checkpoints resume exactly, bad requests fail cleanly."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from dataclasses import replace

import pytest
import torch

from dc2kit.model import CheckpointError, DC2Net, load_dc2, preset_config
from dc2kit.model.dc2_io import read_dc2_metadata, save_dc2
from dc2kit.model.synthetic import synthetic_scene
from dc2kit.train.errors import TrainError
from dc2kit.train.trainer import (
    TrainConfig,
    Trainer,
    learning_rate_at,
    multiscale_loss,
    native_bf16,
)

SMALL = {"crop": 32, "batch": 2, "warmup_steps": 2, "validation_batches": 1, "threads": 1}


def _fixed_loss(trainer: Trainer) -> float:
    batch = trainer.data.batch(0, 4, stream="validation")
    with torch.no_grad():
        return float(multiscale_loss(trainer.model(*batch.inputs()), batch.target))


def test_twenty_steps_lower_the_loss_and_store_the_facts(tmp_path):
    out = tmp_path / "run.safetensors"
    trainer = Trainer(TrainConfig(steps=20, validate_every=10, checkpoint_every=10, **SMALL), out)
    before = _fixed_loss(trainer)
    events = []
    state = trainer.train(events.append)
    assert _fixed_loss(trainer) < 0.9 * before
    assert state.step == 20 and [v["step"] for v in state.validation] == [10, 20]
    assert {e.kind for e in events} == {"step", "validation", "checkpoint", "done"}
    facts = json.loads(read_dc2_metadata(out)["training"])
    assert facts["step"] == 20 and facts["train_config"]["crop"] == 32
    assert facts["data_generator"] and facts["hardware"]["threads"] == 1
    model = load_dc2(out, size=(64, 64))  # optimizer tensors are not weights
    assert model.config.height == 64


def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path):
    config = TrainConfig(steps=4, validate_every=100, checkpoint_every=2, **SMALL)
    straight = Trainer(config, tmp_path / "a.safetensors")
    straight.train()
    Trainer(TrainConfig(steps=2, **{**SMALL}), tmp_path / "b.safetensors").train()
    resumed = Trainer(config, tmp_path / "b.safetensors", resume=tmp_path / "b.safetensors")
    assert resumed.state.step == 2
    resumed.train()
    for (name, a), (_, b) in zip(
        straight.model.state_dict().items(), resumed.model.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0, msg=name)


def test_schedule_warms_up_then_decays():
    config = TrainConfig(steps=100, warmup_steps=10, learning_rate=1e-3, final_learning_rate=1e-5)
    rates = [learning_rate_at(config, s) for s in range(100)]
    assert rates[0] == pytest.approx(1e-4) and rates[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in itertools.pairwise(rates[9:]))
    assert rates[-1] == pytest.approx(1e-5, rel=0.1)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"steps": 0}, "steps must be"),
        ({"batch": 0}, "batch must be"),
        ({"crop": 1024}, "crop must be"),
        ({"crop": 60}, "crop must be"),
        ({"precision": "fp16"}, "precision must be"),
        ({"device": "cuda"}, "cuda" if not torch.cuda.is_available() else "skip"),
    ],
)
def test_bad_requests_are_one_line_errors(tmp_path, overrides, message):
    if message == "skip":
        pytest.skip("this machine has a GPU")
    with pytest.raises(TrainError, match=message) as error:
        Trainer(TrainConfig(**{**SMALL, **overrides}), tmp_path / "x.safetensors")
    assert "\n" not in str(error.value)
    assert not (tmp_path / "x.safetensors").exists()


def test_unusable_resume_files_are_refused(tmp_path):
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(TrainError, match=r"corrupt\.safetensors"):
        Trainer(TrainConfig(**SMALL), tmp_path / "o.safetensors", resume=corrupt)
    trainer = Trainer(TrainConfig(steps=1, **SMALL), tmp_path / "m.safetensors")
    plain = tmp_path / "plain.safetensors"
    save_dc2(trainer.model, plain)  # weights without training facts
    with pytest.raises(TrainError, match="not a resumable"):
        Trainer(TrainConfig(**SMALL), tmp_path / "o.safetensors", resume=plain)
    trainer.train()
    with pytest.raises(TrainError, match="preset 'mobile', not 'paper'"):
        Trainer(
            TrainConfig(**{**SMALL, "preset": "paper"}),
            tmp_path / "o.safetensors",
            resume=tmp_path / "m.safetensors",
        )
    with pytest.raises(TrainError, match="32-px crops, not 64"):
        Trainer(
            TrainConfig(**{**SMALL, "crop": 64}),
            tmp_path / "o.safetensors",
            resume=tmp_path / "m.safetensors",
        )
    assert not (tmp_path / "o.safetensors").exists()


def test_a_diverging_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    out = tmp_path / "run.safetensors"
    config = TrainConfig(
        steps=50, checkpoint_every=1, learning_rate=1e30, **{**SMALL, "warmup_steps": 1}
    )
    trainer = Trainer(config, out)
    with pytest.raises(TrainError, match="last good checkpoint") as error:
        trainer.train()
    good_step = json.loads(read_dc2_metadata(out)["training"])["step"]
    assert 1 <= good_step < 50
    assert f"at step {good_step}" in str(error.value)
    assert all(torch.isfinite(t).all() for t in load_dc2(out).state_dict().values())


def test_shipping_strips_the_optimizer_and_writes_a_card_from_the_facts(tmp_path):
    import hashlib

    from safetensors import safe_open

    from dc2kit.train.ship import ship_weights

    run = tmp_path / "run.safetensors"
    Trainer(TrainConfig(steps=2, **SMALL), run).train()
    shipped = tmp_path / "dc2_mobile.safetensors"
    card = ship_weights(run, shipped)
    with safe_open(str(shipped), framework="pt") as handle:
        assert not [k for k in handle.keys() if k.startswith("train.")]  # noqa: SIM118
    assert shipped.stat().st_size < run.stat().st_size
    text = card.read_text()
    assert hashlib.sha256(shipped.read_bytes()).hexdigest() in text
    assert "2 steps" in text and json.loads(read_dc2_metadata(shipped)["training"])["step"] == 2
    torch.testing.assert_close(
        load_dc2(shipped).state_dict(), load_dc2(run).state_dict(), rtol=0, atol=0
    )


@pytest.mark.skipif(not native_bf16(torch.device("cpu")), reason="this CPU has no native bf16")
def test_bf16_autocast_trains_like_fp32_and_says_so(tmp_path):
    runs = {}
    for precision in ("fp32", "bf16"):
        config = TrainConfig(steps=3, validate_every=100, precision=precision, **SMALL)
        trainer = Trainer(config, tmp_path / f"{precision}.safetensors")
        state = trainer.train()
        facts = json.loads(read_dc2_metadata(tmp_path / f"{precision}.safetensors")["training"])
        runs[precision] = (state.last_loss, facts["precision"])
    assert runs["fp32"][1] == "fp32" and runs["bf16"][1] == "bf16 autocast"
    assert runs["bf16"][0] == pytest.approx(runs["fp32"][0], rel=0.03)
    assert runs["bf16"][0] != runs["fp32"][0]  # the convolutions really ran in bf16


def test_a_run_started_from_an_earlier_architecture_says_so_and_starts_where_it_was(tmp_path):
    earlier_config = replace(preset_config("mobile", 32, 32), fusion_sees_defocus=False)
    torch.manual_seed(0)
    earlier = DC2Net(earlier_config).eval()
    path = tmp_path / "earlier.safetensors"
    save_dc2(earlier, path, metadata={"training": json.dumps({"step": 7, "wall_seconds": 36.0})})
    trainer = Trainer(TrainConfig(steps=1, init_from=str(path), **SMALL), tmp_path / "new.st")
    started = trainer.facts()["initialised_from"]
    assert started["file"] == "earlier.safetensors" and started["steps"] == 7
    assert started["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert started["config"]["fusion_sees_defocus"] is False
    inputs = synthetic_scene(32, 32)
    with torch.no_grad():
        torch.testing.assert_close(trainer.model.eval()(*inputs).image, earlier(*inputs).image)


def test_a_failed_checkpoint_save_keeps_the_last_one_and_leaves_nothing_behind(
    tmp_path, monkeypatch
):
    out = tmp_path / "run.safetensors"
    trainer = Trainer(TrainConfig(steps=1, **SMALL), out)
    trainer.save()
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    saved = out.read_bytes()
    bad_state = {"adam.step": torch.zeros(1)}  # lacks the train. prefix: refused mid-save
    monkeypatch.setattr("dc2kit.train.trainer.adam_state_tensors", lambda *_: bad_state)
    with pytest.raises(CheckpointError, match=r"must start with 'train\.'"):
        trainer.save()
    assert out.read_bytes() == saved and list(tmp_path.iterdir()) == [out]
