"""Training DC2Net on synthetic dual-camera data: Adam, warm-up + cosine schedule, multi-scale
L1 loss, a fixed validation set, atomic resumable checkpoints with the training facts inside.

The network is built once at the crop size; each sample's radial mask (its place in a full
frame) is a forward input, so crops see the mask they would see in a whole photo.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from dc2kit.atomic import atomic_output
from dc2kit.metrics import psnr
from dc2kit.model import DC2Net, preset_config
from dc2kit.model.dc2 import DC2Output
from dc2kit.model.dc2_io import read_dc2_metadata, save_dc2
from dc2kit.model.defocus import SCALE_FACTORS
from dc2kit.model.errors import ModelError
from dc2kit.names import TRAIN_PRECISIONS
from dc2kit.train.data import Batch, SyntheticDualCamera, load_photos
from dc2kit.train.errors import TrainError
from dc2kit.train.optimizer_state import adam_state_tensors, load_adam_state

SCALE_LOSS_WEIGHT = 0.5  # each scale's fused output, beside the final image's weight 1
DATA_VERSION = "dc2kit-synthetic-v2"


@dataclass(frozen=True)
class TrainConfig:
    preset: str = "mobile"
    steps: int = 1000
    crop: int = 128
    batch: int = 8
    learning_rate: float = 1e-3
    final_learning_rate: float = 2e-5
    warmup_steps: int = 100
    seed: int = 0
    validate_every: int = 250
    validation_batches: int = 4
    checkpoint_every: int = 250
    device: str = "cpu"
    threads: int = 2
    images: str | None = None
    init_drbnet: str | None = None
    init_from: str | None = None  # a dc2kit checkpoint of an earlier architecture to start from
    precision: str = "auto"  # "auto", "bf16" or "fp32": see `autocast_dtype`

    def __post_init__(self) -> None:
        checks = (
            (self.steps >= 1, f"steps must be ≥ 1, got {self.steps}"),
            (self.batch >= 1, f"batch must be ≥ 1, got {self.batch}"),
            (
                32 <= self.crop <= 512 and self.crop % 8 == 0,
                f"crop must be a multiple of 8 in 32..512 (the scene canvas), got {self.crop}",
            ),
            (self.learning_rate > 0, f"learning rate must be > 0, got {self.learning_rate}"),
            (self.threads >= 1, f"threads must be ≥ 1, got {self.threads}"),
            (self.validate_every >= 1, "validate-every must be ≥ 1"),
            (self.checkpoint_every >= 1, "checkpoint-every must be ≥ 1"),
            (
                self.precision in TRAIN_PRECISIONS,
                f"precision must be one of {TRAIN_PRECISIONS}, got {self.precision!r}",
            ),
        )
        for ok, message in checks:
            if not ok:
                raise TrainError(message)


@dataclass
class TrainEvent:
    """What the trainer reports to its caller (progress bar, JSON lines)."""

    kind: str  # "step", "validation", "checkpoint", "done"
    step: int
    loss: float | None = None
    validation_psnr: float | None = None
    learning_rate: float | None = None
    path: str | None = None
    samples_per_second: float | None = None


@dataclass
class TrainState:
    step: int = 0
    wall_seconds: float = 0.0
    validation: list[dict[str, float]] = field(default_factory=list)
    last_loss: float | None = None


def learning_rate_at(config: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to `final_learning_rate` at `steps`."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps))
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return config.final_learning_rate + (config.learning_rate - config.final_learning_rate) * cosine


def multiscale_loss(output: DC2Output, target: Tensor) -> Tensor:
    """L1 of the final image plus SCALE_LOSS_WEIGHT × L1 of each scale's fused output."""
    loss = F.l1_loss(output.image, target)
    for factor, scale in zip(SCALE_FACTORS, output.scales, strict=True):
        pooled = F.avg_pool2d(target, factor) if factor > 1 else target
        loss = loss + SCALE_LOSS_WEIGHT * F.l1_loss(scale.fused, pooled)
    return loss


def _resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainError("--device cuda: no CUDA GPU is available on this machine")
    if name not in ("cpu", "cuda"):
        raise TrainError(f"unknown device {name!r}; choose cpu or cuda")
    return torch.device(name)


def native_bf16(device: torch.device) -> bool:
    """Whether `device` runs bf16 convolutions natively (CUDA, or a CPU with AVX512-BF16/AMX)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of the forward pass, None for plain fp32.

    bf16 autocast runs the convolutions (most of a step) in bf16 with fp32 weights, gradients
    and Adam state; the kernel-prediction op and the loss stay fp32. `auto` takes it where the
    hardware has native bf16 (about 1.7× a step on this project's Xeon), since emulated bf16 is
    slower than fp32.
    """
    if precision == "bf16" and not native_bf16(device):
        raise TrainError(f"--precision bf16: {device.type} here has no native bf16; use fp32")
    if precision == "bf16" or (precision == "auto" and native_bf16(device)):
        return torch.bfloat16
    return None


def _to(batch: Batch, device: torch.device) -> tuple[tuple[Tensor, ...], Tensor]:
    return tuple(t.to(device) for t in batch.inputs()), batch.target.to(device)


def _initialise_from(model: DC2Net, path: Path) -> dict:
    """Start `model` from `path` (see `init_from_dc2`); what the card says of that start."""
    from dc2kit.model.pretrained import init_from_dc2

    init_from_dc2(model, path)
    metadata = read_dc2_metadata(path)
    try:
        earlier = json.loads(metadata.get("training", "{}"))
    except ValueError:
        earlier = {}
    return {
        "file": path.name,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "steps": earlier.get("step"),
        "wall_seconds": earlier.get("wall_seconds"),
        "data_generator": earlier.get("data_generator"),
        "config": json.loads(metadata["config"]),
    }


class Trainer:
    """Owns the model, the optimizer, the data and the checkpoint file of one training run."""

    def __init__(self, config: TrainConfig, out: str | Path, resume: str | Path | None = None):
        self.config = config
        self.out = Path(out)
        if not self.out.parent.is_dir():
            raise TrainError(f"{self.out}: the output folder does not exist")
        self.device = _resolve_device(config.device)
        self.autocast = autocast_dtype(config.precision, self.device)
        if self.device.type == "cpu":
            torch.set_num_threads(config.threads)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.model = DC2Net(preset_config(config.preset, config.crop, config.crop))
        self.state = TrainState()
        self.initialised_from: dict | None = None  # the earlier checkpoint this run started from
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.learning_rate)
        if resume is not None:
            self._resume(Path(resume))
        elif config.init_drbnet is not None:
            from dc2kit.model.pretrained import init_from_drbnet

            init_from_drbnet(self.model, config.init_drbnet)
        if resume is None and config.init_from is not None:
            self.initialised_from = _initialise_from(self.model, Path(config.init_from))
        self.model.to(self.device)
        photos = None if config.images is None else load_photos(config.images, config.crop + 32)
        self.data = SyntheticDualCamera(config.crop, config.seed, photos)

    # --- checkpoints ---------------------------------------------------------------------------
    def _resume(self, path: Path) -> None:
        try:
            metadata = read_dc2_metadata(path)
            facts = json.loads(metadata["training"])
            stored = json.loads(metadata["config"])
        except (KeyError, ValueError, ModelError) as error:
            raise TrainError(
                f"{path}: not a resumable dc2kit training checkpoint ({error})"
            ) from None
        if stored.get("preset") != self.config.preset:
            raise TrainError(
                f"{path}: checkpoint is preset {stored.get('preset')!r}, not {self.config.preset!r}"
            )
        if (stored.get("height"), stored.get("width")) != (self.config.crop, self.config.crop):
            raise TrainError(
                f"{path}: checkpoint was trained on {stored.get('width')}-px crops, "
                f"not {self.config.crop}"
            )
        load_adam_state(self.model, self.optimizer, path)
        self.initialised_from = facts.get("initialised_from")
        self.state = TrainState(
            step=int(facts["step"]),
            wall_seconds=float(facts.get("wall_seconds", 0.0)),
            validation=list(facts.get("validation", [])),
        )

    def facts(self) -> dict:
        """The training facts stored in every checkpoint's metadata."""
        return {
            "step": self.state.step,
            "wall_seconds": round(self.state.wall_seconds, 1),
            "train_config": asdict(self.config),
            "data_generator": DATA_VERSION,
            "precision": "bf16 autocast" if self.autocast is torch.bfloat16 else "fp32",
            "validation": self.state.validation,
            "initialised_from": self.initialised_from,
            "last_loss": self.state.last_loss,
            "hardware": {
                "device": str(self.device),
                "processor": platform.processor() or platform.machine(),
                "threads": torch.get_num_threads(),
                "gpu": torch.cuda.get_device_name() if self.device.type == "cuda" else None,
            },
            "torch": torch.__version__,
        }

    def save(self) -> Path:
        self.model.cpu()
        try:
            with atomic_output(self.out) as temporary:  # a killed run keeps its last checkpoint
                save_dc2(
                    self.model,
                    temporary,
                    metadata={"training": json.dumps(self.facts())},
                    training_tensors=adam_state_tensors(self.model, self.optimizer),
                )
        finally:
            self.model.to(self.device)
        return self.out

    # --- loop ----------------------------------------------------------------------------------
    def validate(self) -> float:
        """Mean PSNR (dB, images in [0, 1]) of the final image over the fixed validation set."""
        self.model.eval()
        scores = []
        with torch.inference_mode():
            for index in range(self.config.validation_batches):
                batch = self.data.batch(index, self.config.batch, stream="validation")
                inputs, target = _to(batch, self.device)
                image = self.model(*inputs).image.cpu().numpy()
                pairs = zip(target.cpu().numpy(), image, strict=True)
                scores += [psnr(t, o, peak=2.0) for t, o in pairs]
        self.model.train()
        return sum(scores) / len(scores)

    def _batches(self) -> Iterator[Batch]:
        """Training batches by step index, the next one prepared while the network runs."""
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(self.data.batch, self.state.step, self.config.batch)
            for step in range(self.state.step, self.config.steps):
                batch = pending.result()
                if step + 1 < self.config.steps:
                    pending = pool.submit(self.data.batch, step + 1, self.config.batch)
                yield batch

    def train(self, report: Callable[[TrainEvent], None] = lambda event: None) -> TrainState:
        config = self.config
        self.model.train()
        started = time.perf_counter()
        window_start, window_steps = started, 0
        for batch in self._batches():
            step = self.state.step
            rate = learning_rate_at(config, step)
            for group in self.optimizer.param_groups:
                group["lr"] = rate
            inputs, target = _to(batch, self.device)
            with torch.autocast(self.device.type, self.autocast, enabled=self.autocast is not None):
                output = self.model(*inputs)
            loss = multiscale_loss(output, target)
            if not torch.isfinite(loss):
                kept = f"; the last good checkpoint {self.out} is kept" if self.out.exists() else ""
                raise TrainError(f"the training loss became {loss.item()} at step {step}{kept}")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.optimizer.step()
            self.state.step = step + 1
            self.state.last_loss = round(loss.item(), 5)
            now = time.perf_counter()
            window_steps += 1
            speed = window_steps * config.batch / max(now - window_start, 1e-9)
            report(
                TrainEvent("step", self.state.step, self.state.last_loss, None, rate, None, speed)
            )
            if now - window_start > 60:
                window_start, window_steps = now, 0
            done = self.state.step == config.steps
            if self.state.step % config.validate_every == 0 or done:
                value = self.validate()
                self.state.validation.append({"step": self.state.step, "psnr": round(value, 3)})
                report(TrainEvent("validation", self.state.step, validation_psnr=value))
            if self.state.step % config.checkpoint_every == 0 or done:
                self.state.wall_seconds += time.perf_counter() - started
                started = time.perf_counter()
                report(TrainEvent("checkpoint", self.state.step, path=str(self.save())))
        report(TrainEvent("done", self.state.step))
        return self.state
