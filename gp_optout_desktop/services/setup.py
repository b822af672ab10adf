"""Creating a register: practice details, the first user (a practice manager), a recovery key."""

from __future__ import annotations

from pathlib import Path

from ..domain import ods as ods_mod, roles
from ..domain.errors import ValidationError
from ..store import register as register_store
from .session import Session

MIN_PASSWORD = 10


def check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise ValidationError(f"Choose a password of at least {MIN_PASSWORD} characters.", "password")


def check_user_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 64 or any(ch.isspace() or ord(ch) < 32 for ch in name) or name.startswith("*"):
        raise ValidationError("A user name is 1 to 64 characters with no spaces.", "user")
    return name


def practice_details(*, name: str, address: list[str] | tuple[str, ...] = (), phone: str = "", email: str = "") -> dict:
    if not (name or "").strip():
        raise ValidationError("Enter the practice's name.", "practice_name")
    return {
        "name": name.strip(),
        "address": [line.strip() for line in address if line and line.strip()],
        "phone": (phone or "").strip(),
        "email": (email or "").strip(),
    }


def create_register(folder: Path, *, ods: str, practice: dict, user: str, password: str) -> tuple[Session, str]:
    """Returns the open session of the first user (a practice manager) and the recovery key, shown once."""
    ods_code = ods_mod.validate(ods)
    user = check_user_name(user)
    check_password(password)
    reg, recovery = register_store.create(
        Path(folder), first_user=user, password=password, ods=ods_code, practice=practice, role=roles.MANAGER
    )
    return Session(reg, user, roles.MANAGER), recovery
