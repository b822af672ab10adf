"""Practice settings the desktop app needs: the idle-lock time, the letterhead, and whether a
register exists. The settings are read and written through the engine seam (store/backend.py):
the same on a register file and on a server practice (ADR 0015 addendum srvrest15)."""

from __future__ import annotations

from pathlib import Path

from ..domain.errors import ValidationError
from ..store import register as register_store
from .changes import ChangeSet
from .session import Session

DEFAULT_IDLE_LOCK_MINUTES = 5
MAX_IDLE_LOCK_MINUTES = 15  # the requirement: a practice manager may lengthen it to 15 at most


def register_exists(folder: Path) -> bool:
    """True when ``folder`` already holds a register (or its key file): the app then asks to unlock."""
    return register_store.exists(Path(folder))


def idle_lock_minutes(session: Session) -> int:
    with session.read_store("search") as store:  # every role's desk locks itself
        stored = store.idle_lock_minutes()
    if stored is None:
        return DEFAULT_IDLE_LOCK_MINUTES
    return max(1, min(MAX_IDLE_LOCK_MINUTES, stored))


def set_idle_lock_minutes(session: Session, minutes: int) -> ChangeSet:
    if not isinstance(minutes, int) or not 1 <= minutes <= MAX_IDLE_LOCK_MINUTES:
        raise ValidationError(f"The idle lock is 1 to {MAX_IDLE_LOCK_MINUTES} minutes.", "idle_lock_minutes")
    with session.write("settings", changes_register=False) as ctx:
        ctx.store.set_idle_lock_minutes(minutes)
        ctx.audit("settings.idle_lock", detail=f"minutes={minutes}")
    return ChangeSet(f"The register now locks after {minutes} minutes without use.", ctx.revision,
                     areas=frozenset({"settings"}), data={"idle_lock_minutes": minutes})


def practice_details(session: Session) -> dict:
    """The letterhead: name, address lines, phone, email (and the ODS code, read-only)."""
    with session.read_store("search") as store:
        return store.practice_details()


def set_practice_details(session: Session, *, name: str, address: list[str] | tuple[str, ...] = (),
                         phone: str = "", email: str = "") -> ChangeSet:
    """Change the letterhead printed on every letter. The ODS code is fixed at creation."""
    from .setup import practice_details as validated

    details = validated(name=name, address=address, phone=phone, email=email)
    if details["email"] and "@" not in details["email"]:
        raise ValidationError("The practice email address needs an @.", "email")
    with session.write("settings", changes_register=False) as ctx:
        ctx.store.set_practice_details(details)
        ctx.audit("settings.practice")
    return ChangeSet("Practice details saved: new letters use them.", ctx.revision,
                     areas=frozenset({"settings", "letters"}), data={"practice": details})
