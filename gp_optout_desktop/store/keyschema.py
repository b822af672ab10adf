"""The key file's schema: every field's type and form is checked, and the key derivation's
cost is bounded, BEFORE any of it is used (a damaged or hostile file must give a clear
message, never a traceback, and never run Argon2 for hours: kdf.t=100000 would).

``check(data)`` raises StoreError naming the first bad field; it changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime

from .errors import StoreError

# Bounds on the work an attacker-written key file can make us do: generous next to the
# production parameters (t=6, 128 MiB, p=6; earlier t=4, 192 MiB, p=2) so a practice that raised them
# still unlocks.
MAX_T = 20
MAX_M_KIB = 1024 * 1024  # 1 GiB
MAX_P = 16
MIN_M_KIB = 8  # Argon2's own floor is 8 KiB per lane

# restore-attempts.keys (services/backup.py): wrong passwords tried against a backup when no
# live key file loads, counted in the key-file format. It holds no key slots, so it unlocks nothing.
ATTEMPTS_NAME = "restore-attempts.keys"
ATTEMPTS_ID = "restore-attempts"

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX = re.compile(r"^[0-9a-f]*$")


class KeyFileInvalid(StoreError):
    """The key file is JSON but not a well-formed key file."""


def _fail(name: str, field: str, what: str) -> None:
    raise KeyFileInvalid(
        f"The key file {name} is damaged: {field} {what}. Nothing was changed; restore register.keys from "
        "a backup (or the whole register)."
    )


def _b64(name: str, field: str, value, length: int | None = None, at_least: int | None = None) -> bytes:
    if not isinstance(value, str):
        _fail(name, field, "is not text")
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        _fail(name, field, "is not base64")
    if length is not None and len(raw) != length:
        _fail(name, field, f"has {len(raw)} bytes where {length} are expected")
    if at_least is not None and len(raw) < at_least:
        _fail(name, field, "is too short")
    return raw


def _int(name: str, field: str, value, low: int, high: int) -> int:
    if type(value) is not int:  # bool is an int subclass: refuse it too
        _fail(name, field, "is not a whole number")
    if not low <= value <= high:
        _fail(name, field, f"is {value}, outside {low}..{high}")
    return value


def check_kdf(name: str, field: str, kdf) -> None:
    if not isinstance(kdf, dict):
        _fail(name, field, "is not an object")
    alg = kdf.get("alg")
    if alg == "argon2id":
        _int(name, f"{field}.t", kdf.get("t"), 1, MAX_T)
        p = _int(name, f"{field}.p", kdf.get("p"), 1, MAX_P)
        _int(name, f"{field}.m_kib", kdf.get("m_kib"), max(MIN_M_KIB * p, MIN_M_KIB), MAX_M_KIB)
    elif alg != "hkdf-sha256":
        _fail(name, f"{field}.alg", "names an unknown key derivation")


def _sealed(name: str, field: str, value) -> None:
    if not isinstance(value, dict):
        _fail(name, field, "is not an object")
    _b64(name, f"{field}.nonce", value.get("nonce"), length=12)
    _b64(name, f"{field}.wrapped", value.get("wrapped"), at_least=17)


def _slot(name: str, user, entry) -> None:
    field = f"users[{user!r}]"
    if not isinstance(entry, dict):
        _fail(name, field, "is not an object")
    check_kdf(name, f"{field}.kdf", entry.get("kdf"))
    _b64(name, f"{field}.salt", entry.get("salt"), at_least=8)
    _b64(name, f"{field}.nonce", entry.get("nonce"), length=12)
    _b64(name, f"{field}.wrapped", entry.get("wrapped"), length=48)  # 32-byte key + 16-byte tag
    if not isinstance(entry.get("must_change", False), bool):
        _fail(name, f"{field}.must_change", "is not true or false")
    if "check" in entry and not (isinstance(entry["check"], str) and _HEX64.match(entry["check"])):
        _fail(name, f"{field}.check", "is not a 64-digit hex value")
    extra = entry.get("secrets", {})
    if not isinstance(extra, dict):
        _fail(name, f"{field}.secrets", "is not an object")
    for label, sealed in extra.items():
        _sealed(name, f"{field}.secrets.{label}", sealed)


def _head(name: str, field: str, head) -> None:
    if head is None:
        return
    if not isinstance(head, dict):
        _fail(name, field, "is not an object")
    _int(name, f"{field}.seq", head.get("seq"), 0, 2**62)
    if not isinstance(head.get("mac"), str) or not _HEX.match(head["mac"]) or len(head["mac"]) != 64:
        _fail(name, f"{field}.mac", "is not a 64-digit hex value")
    for key in ("serial", "sig"):
        if key in head and not (isinstance(head[key], str) and _HEX.match(head[key])):
            _fail(name, f"{field}.{key}", "is not hex")


def check(data, name: str = "register.keys") -> dict:
    """Raise KeyFileInvalid unless ``data`` is a well-formed key file; return it."""
    if not isinstance(data, dict):
        _fail(name, "the top level", "is not an object")
    if type(data.get("format")) is not int:
        _fail(name, "format", "is missing")
    users = data.get("users")
    if not isinstance(users, dict):
        _fail(name, "users", "is not an object")
    attempts = name == ATTEMPTS_NAME and data.get("register_id") == ATTEMPTS_ID and not users
    if not attempts and (not isinstance(data.get("register_id"), str)
                         or not re.match(r"^[0-9a-f]{32}$", data["register_id"])):
        _fail(name, "register_id", "is missing or not a register id")
    for user, entry in users.items():
        _slot(name, user, entry)
    throttle = data.get("throttle", {})
    if not isinstance(throttle, dict) or not all(isinstance(v, dict) for v in throttle.values()):
        _fail(name, "throttle", "is not an object of objects")
    for user, state in throttle.items():
        if type(state.get("failures", 0)) is not int:
            _fail(name, f"throttle[{user!r}].failures", "is not a whole number")
        retry = state.get("retry_at")
        if retry is not None:
            try:
                datetime.fromisoformat(retry)
            except (TypeError, ValueError):
                _fail(name, f"throttle[{user!r}].retry_at", "is not a date and time")
    failed = data.get("failed_unlocks", [])
    if not isinstance(failed, list) or not all(
        isinstance(f, dict) and isinstance(f.get("user"), str) and isinstance(f.get("at"), str) for f in failed
    ):
        _fail(name, "failed_unlocks", "is not a list of {user, at}")
    for f in failed:
        try:
            datetime.fromisoformat(f["at"])
        except ValueError:
            _fail(name, "failed_unlocks.at", "is not a date and time")
    _head(name, "audit_head", data.get("audit_head"))
    _head(name, "manager_head", data.get("manager_head"))
    if "revision_seen" in data and data["revision_seen"] is not None:
        _int(name, "revision_seen", data["revision_seen"], 0, 2**62)
    if "manager_pub" in data and not (isinstance(data["manager_pub"], str) and _HEX64.match(data["manager_pub"])):
        _fail(name, "manager_pub", "is not a 64-digit hex value")
    return data
