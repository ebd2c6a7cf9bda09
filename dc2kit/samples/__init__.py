"""Two real phone captures shipped as package data, so a fresh install can render real photos.

Each keeps its own licence (BSD-3-Clause, MIT); `NOTICE.md` beside them carries the licence
texts, copyright lines and sources. `sample:<name>` stands for a sample's path wherever a
capture file is given on the command line; `resolve_capture` is the one place that reads it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dc2kit.errors import Dc2kitError

SAMPLE_PREFIX = "sample:"
SAMPLES_DIR = Path(__file__).resolve().parent
NOTICE = SAMPLES_DIR / "NOTICE.md"


class SampleError(Dc2kitError):
    """`sample:<name>` names no shipped sample."""


@dataclass(frozen=True)
class Sample:
    """A shipped capture and the facts `dc2kit samples` lists about it."""

    name: str
    file: str
    format: str  # the `source_format` its reader reports
    width: int  # stored photo size
    height: int
    licence: str
    copyright: str
    source: str
    description: str

    @property
    def path(self) -> Path:
        return SAMPLES_DIR / self.file

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "path": str(self.path),
            "bytes": self.path.stat().st_size,
            "notice": str(NOTICE),
        }


SAMPLES: dict[str, Sample] = {
    sample.name: sample
    for sample in (
        Sample(
            name="iphone",
            file="iphone13pro_portrait.heic",
            format="iphone-heic",
            width=4032,
            height=3024,
            licence="BSD-3-Clause",
            copyright="Copyright (c) 2021-2023, Pillow-Heif contributors",
            source="github.com/bigcat88/pillow_heif tests/images/heif_other/pug.heic @ 657f27d",
            description="iPhone 13 Pro portrait HEIC, 768x576 disparity, 5.7 mm f/1.5",
        ),
        Sample(
            name="lensblur",
            file="gcam_lensblur.jpg",
            format="gdepth",
            width=580,
            height=1024,
            licence="MIT",
            copyright="Copyright (c) 2014 Rafał Lindemann",
            source="github.com/panrafal/depthy app/samples/1.jpg (blob cc22460)",
            description="Google Camera Lens Blur JPEG, GDepth depth and all-in-focus original",
        ),
    )
}


def resolve_capture(text: str) -> Path:
    """A capture path as given, or the shipped file that `sample:<name>` stands for."""
    if not text.startswith(SAMPLE_PREFIX):
        return Path(text)
    name = text.removeprefix(SAMPLE_PREFIX)
    if name not in SAMPLES:
        known = ", ".join(SAMPLE_PREFIX + known for known in SAMPLES)
        raise SampleError(f"{text}: no such sample (shipped: {known}; see dc2kit samples)")
    return SAMPLES[name].path
