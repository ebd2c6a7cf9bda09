"""Atomic outputs: a file or folder appears at its destination whole, or not at all.

Every temporary is created in the destination's folder (so the final step is a rename on one file
system) under a name that says whose it is: `.dc2kit-<pid>@<host>.<name>.<random>`. A run killed
mid-write leaves such a name behind; the next atomic output in that folder removes the ones whose
process is gone on this host (or that predate the process now holding the pid). Temporaries of
live processes, of other hosts sharing the folder, and anything not named so are left alone.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_STARTED = time.time()  # anything of our pid older than this belongs to an earlier process
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_OURS = re.compile(rf"^\.dc2kit-(\d+)@{_HOST}\.")
_cleaned: set[Path] = set()  # each folder is swept once per process


def _prefix(name: str) -> str:
    return f".dc2kit-{os.getpid()}@{_HOST}.{name}."


@contextmanager
def atomic_output(path: str | Path, directory: bool = False) -> Iterator[Path]:
    """A temporary path beside `path` that replaces it only if the block succeeds.

    With `directory=True` the temporary path is a fresh folder (an `.mlpackage`, say). A failure
    leaves `path` as it was and removes the temporary.
    """
    destination = Path(path)
    parent = destination.parent
    clean_stale_staging(parent)
    prefix, suffix = _prefix(destination.name), destination.suffix
    if directory:
        temporary = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=parent))
    else:
        handle, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=parent)
        os.close(handle)
        temporary = Path(name)
    try:
        yield temporary
        default_permissions(temporary)
        move_into_place(temporary, destination)
    finally:
        _remove(temporary)


@contextmanager
def staging_folder(parent: str | Path, label: str) -> Iterator[Path]:
    """A private working folder in `parent`, removed when the block ends (whatever happens).

    What is built inside can be published with `move_into_place`: same file system, one rename.
    """
    parent = Path(parent)
    clean_stale_staging(parent)
    folder = Path(tempfile.mkdtemp(prefix=_prefix(label), dir=parent))
    try:
        yield folder
    finally:
        _remove(folder)


def move_into_place(source: str | Path, destination: str | Path) -> None:
    """Rename `source` onto `destination`, replacing the file or folder there.

    A file over a file is one atomic rename. A folder cannot be renamed over a folder, so the old
    one is first renamed aside (into a temporary of ours) and removed after; if the final rename
    fails, it is put back.
    """
    source, destination = Path(source), Path(destination)
    if not (destination.is_dir() or (source.is_dir() and destination.exists())):
        os.replace(source, destination)
        return
    parent = destination.parent
    aside = Path(tempfile.mkdtemp(prefix=_prefix(destination.name), suffix=".old", dir=parent))
    try:
        os.replace(destination, aside / destination.name)
        try:
            os.replace(source, destination)
        except OSError:
            os.replace(aside / destination.name, destination)
            raise
    finally:
        _remove(aside)


def clean_stale_staging(folder: str | Path) -> None:
    """Remove temporaries of ours in `folder` left by processes that no longer run."""
    folder = Path(folder).absolute()
    if folder in _cleaned:
        return
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    _cleaned.add(folder)
    for entry in entries:
        match = _OURS.match(entry.name)
        if match and _is_stale(int(match[1]), entry):
            _remove(Path(entry.path))


def _is_stale(pid: int, entry: os.DirEntry) -> bool:
    if pid == os.getpid():
        try:
            return entry.stat(follow_symlinks=False).st_mtime < _STARTED
        except OSError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists (another user's process, say)
        return False
    return False


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def default_permissions(path: str | Path) -> None:
    """mkstemp/mkdtemp (and converters' own temporaries) make private files; give `path`, and
    everything inside it, the usual umask-based mode."""
    umask = os.umask(0)
    os.umask(umask)
    path = Path(path)
    inside = path.rglob("*") if path.is_dir() else ()
    for item in (path, *inside):
        if not item.is_symlink():
            os.chmod(item, (0o777 if item.is_dir() else 0o666) & ~umask)


def write_atomically(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename."""
    with atomic_output(path) as temporary:
        temporary.write_bytes(data)
