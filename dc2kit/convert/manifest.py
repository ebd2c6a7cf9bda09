"""Artifact manifests: what an exported file is, how it was made, and how well it matches PyTorch.

Each artifact `X` (a `.tflite` file or an `.mlpackage` folder) gets `X.manifest.json` beside it:
dc2kit version and git commit, tool versions, preset and config, the weights' origin, I/O spec,
precision, op histogram, delegate report, parity per check, and the artifact's sha256.

Publishing (`publish`) puts the artifact in place first and its manifest last, so the manifest
is the mark of a complete export: an artifact without one is refused by `verify`.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dc2kit import __version__
from dc2kit.atomic import move_into_place, write_atomically

if TYPE_CHECKING:
    from dc2kit.model.builder import WeightsOrigin

TOOLS = ("torch", "coremltools", "litert-torch", "ai-edge-litert", "ai-edge-quantizer", "numpy")
MANIFEST_SUFFIX = ".manifest.json"
UNSTATED_WEIGHTS = "origin not stated (exported without dc2kit's model builder)"


def manifest_path(artifact: str | Path) -> Path:
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + MANIFEST_SUFFIX)


def artifact_sha256(path: str | Path) -> str:
    """sha256 of a file, or of a folder's files (relative path and content, in sorted order)."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with file.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def weights_metadata(origin: WeightsOrigin | None) -> dict[str, str]:
    """The weights' origin as artifact metadata, so an app can show e.g. RANDOM (untrained)."""
    if origin is None:
        return {"dc2kit.weights": UNSTATED_WEIGHTS}
    return {"dc2kit.weights": origin.label, "dc2kit.weights_origin": json.dumps(origin.to_dict())}


def tool_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for tool in TOOLS:
        try:
            versions[tool] = metadata.version(tool)
        except metadata.PackageNotFoundError:
            versions[tool] = None
    return versions


def git_commit() -> str | None:
    """The dc2kit checkout's commit (with `-dirty` for local changes), or None outside git."""
    source = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=source,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{commit}-dirty" if dirty else commit


def provenance() -> dict[str, Any]:
    return {
        "dc2kit_version": __version__,
        "git_commit": git_commit(),
        "tools": tool_versions(),
        "platform": platform.platform(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_manifest(artifact: str | Path, manifest: dict[str, Any]) -> Path:
    path = manifest_path(artifact)
    write_atomically(path, (json.dumps(manifest, indent=2, sort_keys=False) + "\n").encode())
    return path


def read_manifest(artifact: str | Path) -> dict[str, Any]:
    return json.loads(manifest_path(artifact).read_text())


def publish(staged: Path, destination: Path, manifest: dict[str, Any]) -> Path:
    """Move a checked artifact from staging to `destination`, then write its manifest beside it.

    Two paths cannot change in one atomic step, so the order carries the meaning. Manifest last
    (rather than both inside one folder swapped in, which would change the published layout and
    is no more atomic when it replaces an existing folder): the old manifest goes first, then the
    artifact is renamed into place, then the new manifest is written atomically. A kill at any
    point leaves either a complete pair or an artifact with no manifest, which `verify` refuses;
    never an artifact beside a manifest that is not its own. Returns the manifest's path.
    """
    manifest_path(destination).unlink(missing_ok=True)
    move_into_place(staged, destination)
    return write_manifest(destination, manifest)
