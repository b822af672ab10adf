"""A cross-process exclusive lock on a small lock file beside the register.

Written here (about 40 lines) rather than taken from PyPI's ``filelock``: we need only an
exclusive, blocking-with-timeout lock that the operating system releases when a process
dies (``flock`` on POSIX, ``msvcrt.locking`` on Windows), and a new dependency would have
to be pinned and packaged for the installers. SQLite's own locks cannot be used: the key
file and the seal live outside the database.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path

from .errors import StoreError

if os.name == "nt":  # pragma: no cover - exercised on Windows workstations
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


# How long a writer waits for the lock before it says the file is busy (tests shorten it).
WAIT_S = 30.0


class LockBusy(StoreError):
    """Another window or program held the lock for longer than the timeout."""


@contextmanager
def held(lock_path: Path, what: str, timeout: float | None = None):
    """Hold the exclusive lock on ``lock_path`` (created 0600 if missing) for the block,
    waiting up to ``timeout`` seconds (default ``WAIT_S``)."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + (WAIT_S if timeout is None else timeout)
        pause = 0.001
        while not _try_lock(fd):
            if time.monotonic() > deadline:
                raise LockBusy(f"The {what} is busy in another window or program; nothing was changed. Try again.")
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)
