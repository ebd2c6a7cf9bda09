"""Atomic outputs: a file or folder appears at its destination whole, or not at all."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_output(path: str | Path, directory: bool = False) -> Iterator[Path]:
    """A temporary path beside `path` that replaces it only if the block succeeds.

    With `directory=True` the temporary path is a fresh folder (an `.mlpackage`, say). A failure
    leaves `path` as it was and removes the temporary.
    """
    destination = Path(path)
    parent = destination.parent
    prefix, suffix = f".{destination.name}.", destination.suffix
    if directory:
        temporary = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=parent))
    else:
        handle, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=parent)
        os.close(handle)
        temporary = Path(name)
    try:
        yield temporary
        _default_permissions(temporary)
        if directory and destination.is_dir():
            shutil.rmtree(destination)
        os.replace(temporary, destination)
    finally:
        if temporary.is_dir():
            shutil.rmtree(temporary, ignore_errors=True)
        else:
            temporary.unlink(missing_ok=True)


def _default_permissions(path: Path) -> None:
    """mkstemp/mkdtemp make private files; give the result the usual umask-based mode."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~umask)


def write_atomically(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename."""
    with atomic_output(path) as temporary:
        temporary.write_bytes(data)
