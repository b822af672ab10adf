"""Atomic file writes: temp file in the same folder, fsync, replace, fsync the folder.

A crash or a full disk leaves either the old file or the new one, never half of either.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    if os.name == "nt":  # directories cannot be opened for fsync on Windows
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes(path: Path, data: bytes, mode: int = 0o600) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass  # why: already renamed into place or never created: nothing to remove
        raise
    fsync_dir(path.parent)


def remove_stale_temps(path: Path) -> int:
    """Delete temp files a killed ``write_bytes(path, ...)`` left behind. Call only while
    holding the lock that serialises writes to ``path``, so no live write is removed."""
    path = Path(path)
    removed = 0
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            leftover.unlink()
            removed += 1
        except FileNotFoundError:
            pass  # why: removed by another window between the listing and the unlink
    return removed


def secure_file(path: Path) -> None:
    """Owner-only (0600) whatever the umask: the register's files hold patient data or keys."""
    if os.name != "nt" and Path(path).exists():
        os.chmod(path, 0o600)


def make_private_dir(path: Path) -> Path:
    """A folder only its owner can enter (0700) whatever the umask."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if os.name != "nt":
        os.chmod(path, 0o700)
    return path
