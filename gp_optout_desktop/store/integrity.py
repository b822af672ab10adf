"""Integrity checks of the register file, off the unlock path (ADR 0011).

Unlock no longer runs them: SQLCipher's per-page HMAC already refuses any page that was
altered when it is read, so nothing damaged is read silently. What the checks add (every
page read now, not when first needed; the B-tree structure; indexes against tables) runs:

- in the background after an unlock, on its own connection, so the desk is never held up;
- in full before a backup is written (store/backup.py checks the copy it makes);
- on demand (the window's "Check the register" button, ``gp-optout check``).

A failed check is remembered on the open register: services refuse every further write
with a sentence saying why (services/session.py), until the register is restored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone

from . import database
from .errors import RegisterCorrupt


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    full: bool
    at: datetime
    seconds: float
    problem: str = ""  # a sentence for the user when not ok

    def describe(self) -> str:
        when = self.at.astimezone().strftime("%H:%M")
        if self.ok:
            kind = "full check" if self.full else "check"
            return f"Register {kind} at {when}: no damage found."
        return self.problem


DAMAGED = ("The register failed its integrity check at {when}: the file is damaged or was tampered with. "
           "Changes are blocked so nothing more is written to it. Restore the latest backup "
           "(Backups screen, or gp-optout restore).")


def check_file(db_path, data_key: bytes, *, full: bool = False) -> CheckResult:
    """Check the register at ``db_path`` on a connection of its own (so the register's own
    connection, and the desk's searches, are not held up). Never raises for damage: the
    result says so."""
    start = time.perf_counter()
    at = datetime.now(timezone.utc)
    try:
        conn = database.connect(db_path, data_key)
    except RegisterCorrupt:
        return CheckResult(False, full, at, time.perf_counter() - start, _damaged(at))
    try:
        if not full:  # one pass over every page: a big cache only adds to the window's memory
            conn.execute("PRAGMA cache_size = -8192")
        database.check_integrity(conn, full=full)
    except RegisterCorrupt:
        return CheckResult(False, full, at, time.perf_counter() - start, _damaged(at))
    finally:
        conn.close()
    return CheckResult(True, full, at, time.perf_counter() - start)


def _damaged(at: datetime) -> str:
    return DAMAGED.format(when=at.astimezone().strftime("%H:%M"))


def remember(reg, result: CheckResult) -> None:
    # A failure stays until the register is closed: a later passing check of the same open
    # file does not clear it (the damage may be in pages a quick check does not read again).
    previous = last_result(reg)
    if previous is not None and not previous.ok:
        return
    reg._integrity = result  # noqa: SLF001 - kept beside the connection it describes


def last_result(reg) -> CheckResult | None:
    return getattr(reg, "_integrity", None)


def refuse_writes_if_damaged(reg) -> None:
    result = last_result(reg)
    if result is not None and not result.ok:
        raise RegisterCorrupt(result.problem)
