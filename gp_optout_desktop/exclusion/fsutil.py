"""Durable file steps: write+fsync, fsync a directory, atomic replace.

Every step goes through ``os`` at call time, so tests inject faults by monkeypatching
``os.replace`` / ``os.fsync`` / ``os.rename`` and prove that a failure at any step leaves
the previous exclusion set current.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from ..problem_log import log_problem

log = logging.getLogger(__name__)


def write_durable(path: Path, data: bytes) -> None:
    """Create ``path`` (must not exist), write all bytes, fsync before returning."""
    # Owner-only whatever the umask: the set lists patients' NHS numbers (issue 11, finding 9).
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable. Windows cannot open a directory for fsync; NTFS
    journals the rename itself, so there the step is skipped."""
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_name(directory: Path, stem: str) -> Path:
    return directory / f".tmp-{stem}-{secrets.token_hex(6)}"


def replace_file_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync it, then rename it over ``path``."""
    directory = path.parent
    tmp = temp_name(directory, path.name)
    try:
        write_durable(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError as exc:  # why: the write's own error is the one raised; the writer prunes .tmp- files
            log_problem(log, "A temporary file could not be removed after a failed write", exc)
        raise
    fsync_dir(directory)
