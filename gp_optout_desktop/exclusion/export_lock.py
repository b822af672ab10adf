"""One export at a time per folder: a lock file created with O_EXCL.

Two exports into the same folder at once (two desks, or a desk and a scheduled CLI run)
could prune each other's new generation or leave CURRENT pointing at the older register
revision. O_EXCL creation is atomic on local disks and on the network shares an export
folder often lives on, where advisory locks (flock) are not reliable. A lock left by a
crashed export is taken over once it is older than any export could take.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from .errors import ExportError
from ..problem_log import log_problem

log = logging.getLogger(__name__)

LOCK_FILE = ".export-lock"
STALE_AFTER_SECONDS = 15 * 60


def _describe(path: Path) -> str:
    try:
        holder = path.read_text(encoding="utf-8").split()
        return f" (started {holder[1]} on {holder[0]})" if len(holder) >= 2 else ""
    except (OSError, UnicodeDecodeError):
        return ""


def _create(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)


@contextmanager
def export_lock(directory: Path, *, stale_after: float = STALE_AFTER_SECONDS):
    path = Path(directory) / LOCK_FILE
    try:
        try:
            fd = _create(path)
        except FileExistsError:
            fd = _take_over(path, stale_after)
        try:
            stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            os.write(fd, f"{socket.gethostname() or 'this-computer'} {stamp} {os.getpid()}\n".encode("utf-8"))
        except OSError:
            _release(path)
            raise
        finally:
            os.close(fd)
    except OSError as exc:  # read-only, full or gone: the previous set is untouched
        raise ExportError(f"The export folder cannot be written to ({exc.strerror}). Nothing was written; "
                          "the previous exclusion set is still the current one.") from None
    try:
        yield
    finally:
        _release(path)


def _release(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError as exc:  # why: the export is done; a lock left behind is taken over after STALE_AFTER_SECONDS
        log_problem(log, "The export lock could not be removed; the next export waits until it is stale", exc)


def _take_over(path: Path, stale_after: float) -> int:
    """The lock exists: refuse while it is recent; take over one left by a crashed export."""
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        age = stale_after  # released just now: try once more below
    if age < stale_after:
        raise ExportError(f"Another export into this folder is running{_describe(path)}. Nothing was written: "
                          "wait a minute and export again.")
    # Left by an export that crashed. Renaming it aside first means only one of two
    # exports arriving together can take it over.
    try:
        os.rename(path, path.with_name(f".tmp-stale-lock-{secrets.token_hex(6)}"))
    except FileNotFoundError:
        pass  # why: another export took it over (or released it) first; _create below settles who wins
    try:
        return _create(path)
    except FileExistsError:
        raise ExportError("Another export into this folder has just started. Nothing was written: "
                          "wait a minute and export again.") from None
