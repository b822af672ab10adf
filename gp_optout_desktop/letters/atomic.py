"""Atomic file writes: a crash leaves the old file or the new one, never half of either."""

from __future__ import annotations

import ctypes
import os
import sys
import tempfile
from pathlib import Path

from ..store.atomic import fsync_dir, write_bytes


def write_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write to a temp file in the same folder, fsync, then os.replace over ``path`` (owner-only)."""
    target = Path(path)
    write_bytes(target, data)
    return target


def write_atomic_many(folder: str | os.PathLike, files: list[tuple[str, bytes]]) -> list[Path]:
    """Write several files into one folder, each atomically, with one flush to disk for the
    whole batch instead of one per file (an fsync costs a journal commit each, which dominated
    writing a few hundred small PDFs): write every temp file, make them durable together
    (syncfs on Linux; an fsync per file elsewhere), rename each over its name, then fsync the
    folder once so the renames last. A crash leaves whole files or stray temp files, never half a PDF."""
    folder = Path(folder)
    temps: list[tuple[str, Path]] = []
    try:
        for name, data in files:
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
            temps.append((tmp, folder / name))
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                if not _CAN_SYNCFS:
                    fh.flush()
                    os.fsync(fh.fileno())
        if _CAN_SYNCFS:
            _syncfs(folder)
        for tmp, target in temps:
            os.replace(tmp, target)
    except BaseException:
        for tmp, _ in temps:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass  # why: not written yet (or already renamed into place): nothing to remove
        raise
    fsync_dir(folder)
    return [target for _, target in temps]


def _load_syncfs():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


_SYNCFS = _load_syncfs()
_CAN_SYNCFS = _SYNCFS is not None


def _syncfs(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        if _SYNCFS(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), str(folder))
    finally:
        os.close(fd)
