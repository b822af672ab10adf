"""Per-user keys: one random 256-bit data key encrypts the register; each user's
password unwraps that user's own wrapped copy (Argon2id, then AES-256-GCM).

The key file sits beside the register and is written atomically. It holds no
patient data: user names, KDF parameters, wrapped keys, the recovery key's wrapped
copy, the failed-unlock throttle (so it survives a restart) and the last audit
head seen (so truncation of the audit chain can be detected).

The AES-GCM associated data binds each wrapped key to the register id and the
user name, so entries cannot be swapped between users or registers.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .. import child_task
from ..problem_log import log_problem
from . import atomic, filelock, keyschema
from .errors import KeyDamaged, StoreError, Throttled, WrongPassword
from ..domain.uk_time import uk

log = logging.getLogger(__name__)
FORMAT = 1
# Argon2id for new key entries: 6 passes over 128 MiB in 6 lanes (ADR 0001, addendum of
# issue 13). 128 MiB instead of 192 keeps the unlock's peak memory under the 250 MB target
# at 1,000,000 patients; 6 passes instead of 4 keep the memory-passes product (768 MiB x
# pass) and so the wall time about where it was; the lanes run in parallel where there are
# cores. benchmarks/bench_keys.py prints the figure. Each key entry keeps its own
# parameters, so entries wrapped earlier still unlock.
KDF_DEFAULTS = {"alg": "argon2id", "t": 6, "m_kib": 131072, "p": 6}
# Earlier defaults (newest first): an entry with exactly these is re-wrapped with KDF_DEFAULTS
# at its user's next successful password unlock (services/session.unlock, audited as
# user.key_rewrapped). Parameters a practice chose itself are left as they are.
SUPERSEDED_KDFS = ({"alg": "argon2id", "t": 4, "m_kib": 196608, "p": 2},
                   {"alg": "argon2id", "t": 4, "m_kib": 131072, "p": 2},
                   {"alg": "argon2id", "t": 3, "m_kib": 98304, "p": 2})
# Server mode (store/server/connect.py) derives the database login from a salt known before
# sign-in and keeps no parameters on the desk: changing them would lock every server user
# out, so server logins keep the parameters they were made with.
SERVER_KDF = {"alg": "argon2id", "t": 4, "m_kib": 196608, "p": 2}
FREE_FAILURES = 5
FIRST_DELAY_S = 30
MAX_DELAY_S = 15 * 60
RECOVERY_USER = "*recovery*"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))


def _now() -> datetime:
    return datetime.now(timezone.utc)


class _Argon2Gate:
    """Whether an Argon2id run holds its memory (128-192 MiB) now. What can wait, such as the
    screens' warm-up imports (ui/warm.py), waits for it, so their memory does not stack on
    Argon2's in the process's peak (issue 13: peak RSS at 1,000,000 patients)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.running = 0
        self.finished = 0

    @contextmanager
    def held(self):
        with self._cond:
            self.running += 1
        try:
            yield
        finally:
            with self._cond:
                self.running -= 1
                self.finished += 1
                self._cond.notify_all()

    def wait_released(self, after: int, timeout: float) -> bool:
        """Wait until a run that finished after ``after`` runs had finished has released its
        memory and no other run holds any. False if ``timeout`` seconds passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: self.running == 0 and self.finished > after, timeout)


ARGON2_GATE = _Argon2Gate()


def _argon2id(password: str, salt: bytes, t: int, m_kib: int, p: int) -> bytes:
    """One Argon2id run: in a process of its own in the desktop app (``derive_kek``)."""
    return hash_secret_raw(password.encode("utf-8"), salt, t, m_kib, p, 32, Type.ID)


def _argon2id_here(password: str, salt: bytes, t: int, m_kib: int, p: int) -> bytes:
    with ARGON2_GATE.held():  # hash_secret_raw frees its memory before it returns
        return _argon2id(password, salt, t, m_kib, p)


_apart_failed = False  # a child ended without a key: derive here from then on, in this process


def derive_kek(password: str, salt: bytes, kdf: dict) -> bytes:
    """In the desktop app Argon2id runs in a short-lived child process (child_task), so the
    app never holds its 128-192 MiB: only the 32-byte key comes back over the pipe, and the
    unlock's peak memory is the register's alone (ADR 0001 addendum, H-81). If the child ends
    without a key (killed, out of memory, a process that cannot run), this run is refused in
    words with nothing derived and nothing written, and later runs in this process derive here
    under ARGON2_GATE: a higher peak, but the register still opens. The command line and the
    tests (child processes off) derive here."""
    global _apart_failed
    keyschema.check_kdf("register.keys", "kdf", kdf)  # bounded before Argon2 runs
    if kdf.get("alg") == "argon2id":
        args = (password, salt, kdf["t"], kdf["m_kib"], kdf["p"])
        if _apart_failed:
            return _argon2id_here(*args)
        try:
            return child_task.run(_argon2id, *args, what="the password check", here=_argon2id_here)
        except child_task.ChildTaskFailed as exc:
            _apart_failed = True
            log_problem(log, "The password check's process ended without a key; checking in the app from now on",
                        exc)
            raise child_task.ChildTaskFailed(
                "The password check stopped before it finished (its process ended). Nothing was changed. Try "
                "again: the next try checks the password in the app itself.") from None
    if kdf.get("alg") == "hkdf-sha256":  # only for the recovery key, which is itself 256 random bits
        return HKDF(hashes.SHA256(), 32, salt, b"gp-optout recovery").derive(password.encode("utf-8"))
    raise StoreError(f"The key file uses an unknown key derivation '{kdf.get('alg')}'.")


SERVER_UNWRAP_LABEL = b"gp-optout server v1 key unwrap"
SERVER_LOGIN_LABEL = b"gp-optout server v1 database login"


def derive_server_secrets(password: str, salt: bytes, kdf: dict) -> tuple[bytes, str]:
    """Server mode: ONE Argon2id run gives both the key that unwraps this user's key slot and
    the database login password, each by HKDF under its own label. The server checks only the
    login (as a SCRAM verifier); neither the Argon2id output nor the unwrap key can be computed
    from it, so the server never holds what opens the practice's data key (the Bitwarden model).
    Returns (unwrap key, login password as 43 URL-safe base64 characters)."""
    if kdf.get("alg") != "argon2id":  # a typed password: never the recovery key's cheap HKDF
        raise StoreError("A server login needs an Argon2id key derivation.")
    stretched = derive_kek(password, salt, kdf)
    unwrap = HKDF(hashes.SHA256(), 32, None, SERVER_UNWRAP_LABEL).derive(stretched)
    login = HKDF(hashes.SHA256(), 32, None, SERVER_LOGIN_LABEL).derive(stretched)
    return unwrap, base64.urlsafe_b64encode(login).decode("ascii").rstrip("=")


def normalise_recovery(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch.isalnum())


def new_recovery_key() -> str:
    """52 base32 characters (260 bits) in groups of four, for printing."""
    raw = base64.b32encode(secrets.token_bytes(33)).decode("ascii").rstrip("=")[:52]
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


@dataclass
class KeyFile:
    path: Path
    data: dict

    # ---- loading and saving -------------------------------------------------
    @classmethod
    def create(cls, path: Path, register_id: str) -> "KeyFile":
        return cls(Path(path), {"format": FORMAT, "register_id": register_id, "users": {}, "throttle": {}, "audit_head": None})

    @classmethod
    def load(cls, path: Path) -> "KeyFile":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StoreError(
                f"The key file {path.name} is missing beside the register. Without it nobody can unlock the "
                "register: restore it from a backup, or restore the whole register."
            ) from None
        except (OSError, ValueError) as exc:
            raise StoreError(f"The key file {path.name} is unreadable or damaged ({exc.__class__.__name__}).") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT or "users" not in data:
            raise StoreError(f"The key file {path.name} is not one this version can read.")
        keyschema.check(data, path.name)
        data.setdefault("throttle", {})
        data.setdefault("audit_head", None)
        return cls(path, data)

    def save(self) -> None:
        """Write this whole file. Only for a new key file (create, re-key, a restore's copy):
        a change to a key file in use goes through ``update``."""
        atomic.write_bytes(self.path, json.dumps(self.data, indent=1, sort_keys=True).encode("utf-8"))

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def locked(self):
        """The cross-process lock every writer of this key file (and a re-key) holds."""
        return filelock.held(self.lock_path, "key file")

    def update(self, change) -> None:
        """Apply ``change(key_file)`` to the key file as it is on disk now, under the lock, and
        write the result atomically. Another window's change made since this one loaded the
        file is kept, not overwritten; this object then holds the merged contents."""
        with self.locked():
            atomic.remove_stale_temps(self.path)  # a killed writer's leftovers; none is live under the lock
            try:
                fresh = KeyFile.load(self.path)
            except StoreError:
                if self.path.exists():
                    raise
                fresh = KeyFile(self.path, json.loads(json.dumps(self.data)))  # not written yet (a new register)
            if fresh.register_id != self.register_id:
                raise StoreError(f"The key file {self.path.name} now belongs to a different register; nothing was "
                                 "changed. Lock, then unlock again.")
            change(fresh)
            fresh.save()
            self.data = fresh.data

    @property
    def register_id(self) -> str:
        return self.data["register_id"]

    # ---- wrapping -----------------------------------------------------------
    def _aad(self, name: str) -> bytes:
        return f"{self.register_id}|{name}".encode("utf-8")

    def wrap(self, name: str, secret: str, data_key: bytes, *, kdf: dict | None = None, must_change: bool = False,
             extra: dict[str, bytes] | None = None) -> None:
        """One Argon2 run gives the KEK; the slot's other secrets (the user's audit key, the
        manager key) are wrapped under keys derived from it with HKDF, so unlock stays one run."""
        self.data["users"][name] = self._new_entry(name, secret, data_key, kdf, must_change, extra)

    def _new_entry(self, name: str, secret: str, data_key: bytes, kdf: dict | None, must_change: bool,
                   extra: dict[str, bytes] | None) -> dict:
        kdf = dict(kdf or KDF_DEFAULTS)
        salt = secrets.token_bytes(16)
        kek = derive_kek(secret, salt, kdf)
        nonce = secrets.token_bytes(12)
        wrapped = AESGCM(kek).encrypt(nonce, data_key, self._aad(name))
        entry = {
            "kdf": kdf,
            "salt": _b64(salt),
            "nonce": _b64(nonce),
            "wrapped": _b64(wrapped),
            "must_change": must_change,
            "check": _check_value(kek, self._aad(name)),
            "secrets": {},
        }
        holder = KeyFile(self.path, {"register_id": self.register_id, "users": {name: entry}})
        for label, value in (extra or {}).items():
            Slot(holder, name, data_key, kek).put(label, value)
        return entry

    def superseded(self, name: str) -> bool:
        """Whether this user's entry was wrapped with earlier default parameters (re-wrapped
        at their next password unlock)."""
        kdf = (self.data["users"].get(name) or {}).get("kdf")
        return name != RECOVERY_USER and any(kdf == old for old in SUPERSEDED_KDFS)

    def wrap_recovery(self, recovery_key: str, data_key: bytes, extra: dict[str, bytes] | None = None) -> None:
        self.wrap(RECOVERY_USER, normalise_recovery(recovery_key), data_key, kdf={"alg": "hkdf-sha256"}, extra=extra)

    def drop_secret(self, name: str, label: str) -> None:
        """Remove one wrapped secret from a slot (no password needed to forget)."""
        entry = self.data["users"].get(name)
        if entry:
            entry.get("secrets", {}).pop(label, None)

    def has_secret(self, name: str, label: str) -> bool:
        return label in (self.data["users"].get(name) or {}).get("secrets", {})

    def has_user(self, name: str) -> bool:
        return name in self.data["users"] and name != RECOVERY_USER

    def user_names(self) -> list[str]:
        return sorted(n for n in self.data["users"] if n != RECOVERY_USER)

    def must_change(self, name: str) -> bool:
        return bool(self.data["users"].get(name, {}).get("must_change"))

    def remove(self, name: str) -> None:
        self.data["users"].pop(name, None)
        self.data["throttle"].pop(name.casefold(), None)

    def try_unwrap(self, name: str, secret: str) -> bytes | None:
        slot = self.try_open(name, secret)
        return slot.data_key if slot else None

    def try_open(self, name: str, secret: str) -> "Slot | None":
        """The slot opened by this password, or None for a wrong password. Raises KeyDamaged
        when the password is right (the check value matches) but the wrapped key is damaged."""
        entry = self.data["users"].get(name)
        if entry is None:
            # Spend the same time as a real attempt so user names cannot be probed by timing.
            derive_kek(secret, b"\0" * 16, KDF_DEFAULTS)
            return None
        kek = derive_kek(secret, _unb64(entry["salt"]), entry["kdf"])
        try:
            data_key = AESGCM(kek).decrypt(_unb64(entry["nonce"]), _unb64(entry["wrapped"]), self._aad(name))
        except InvalidTag:
            if entry.get("check") and secrets.compare_digest(entry["check"], _check_value(kek, self._aad(name))):
                raise KeyDamaged(
                    f"The key file's entry for {name} is damaged: the password is right but the key it protects "
                    "fails its check. Restore register.keys from a backup, or ask a practice manager to reset "
                    "your password."
                ) from None
            return None
        return Slot(self, name, data_key, kek, entry["salt"])

    # ---- throttle -----------------------------------------------------------
    def throttle_state(self, name: str) -> dict:
        return self.data["throttle"].get(name.casefold(), {"failures": 0, "retry_at": None, "log": []})

    def retry_at(self, name: str) -> datetime | None:
        raw = self.throttle_state(name).get("retry_at")
        return datetime.fromisoformat(raw) if raw else None

    def check_throttle(self, name: str, now: datetime | None = None) -> None:
        refuse_if_throttled(self.retry_at(name), now or _now())

    def record_failure(self, name: str, now: datetime | None = None) -> None:
        now = now or _now()
        self.update(lambda fresh: fresh._add_failure(name, now))

    def _add_failure(self, name: str, now: datetime) -> None:
        self.data["throttle"][name.casefold()] = after_failure(self.throttle_state(name), now)
        # Failed unlocks cannot be written to the locked register: keep them here until
        # the next successful unlock moves them into the audit trail.
        pending = self.data.setdefault("failed_unlocks", [])
        pending.append({"user": name[:64], "at": now.isoformat()})
        del pending[:-1000]

    def clear_throttle(self, name: str) -> None:
        self.data["throttle"].pop(name.casefold(), None)

    def drain_failed_unlocks(self) -> list[dict]:
        pending = list(self.data.get("failed_unlocks") or [])
        self.data["failed_unlocks"] = []
        return pending

    # ---- unlock ---------------------------------------------------------------
    def unlock(self, name: str, password: str, now: datetime | None = None) -> bytes:
        return self.unlock_slot(name, password, now).data_key

    def unlock_slot(self, name: str, password: str, now: datetime | None = None) -> "Slot":
        self.check_throttle(name, now)
        slot = self.try_open(name, password) if name != RECOVERY_USER else None
        if slot is None:
            self.record_failure(name, now)
            raise WrongPassword("The user name or password is wrong.")
        return slot

    def confirm_password(self, name: str, password: str, now: datetime | None = None) -> None:
        """A signed-in user's password asked for again (before they change it): throttled and
        counted exactly like an unlock, on the key file as it is on disk now (another window's
        wrong tries count too). Raises Throttled or WrongPassword; a right one resets the count."""
        fresh = KeyFile.load(self.path)
        fresh.unlock_slot(name, password, now)
        if fresh.throttle_state(name).get("failures"):
            self.update(lambda keys: keys.clear_throttle(name))

    def unlock_with_recovery(self, recovery_key: str, now: datetime | None = None) -> bytes:
        return self.unlock_recovery_slot(recovery_key, now).data_key

    def unlock_recovery_slot(self, recovery_key: str, now: datetime | None = None) -> "Slot":
        self.check_throttle(RECOVERY_USER, now)
        slot = self.try_open(RECOVERY_USER, normalise_recovery(recovery_key))
        if slot is None:
            self.record_failure(RECOVERY_USER, now)
            raise WrongPassword("That recovery key does not unlock this register.")
        return slot


def after_failure(state: dict, now: datetime) -> dict:
    """The throttle rule (also a server sign-in's on the desk, services/server_throttle.py):
    FREE_FAILURES wrong passwords, then a wait of FIRST_DELAY_S doubling up to MAX_DELAY_S."""
    state = dict(state)
    state["failures"] = state.get("failures", 0) + 1
    extra = state["failures"] - FREE_FAILURES
    if extra >= 0:
        delay = min(FIRST_DELAY_S * (2**extra), MAX_DELAY_S)
        state["retry_at"] = (now + timedelta(seconds=delay)).isoformat()
    return state


def refuse_if_throttled(retry: datetime | None, now: datetime) -> None:
    if retry and now < retry:
        local = uk(retry).strftime("%H:%M:%S")
        raise Throttled(f"Too many wrong passwords. The next try is allowed at {local}.", retry)


def _subkey(kek: bytes, label: str) -> bytes:
    return HKDF(hashes.SHA256(), 32, None, f"gp-optout slot {label}".encode("utf-8")).derive(kek)


def _check_value(kek: bytes, aad: bytes) -> str:
    """A hash of a KEK-derived verifier: tells 'password right, wrapped key damaged' from a
    wrong password. It reveals no more than the wrapped key itself (both test a guess)."""
    import hashlib

    return hashlib.sha256(_subkey(kek, "check") + aad).hexdigest()


@dataclass
class Slot:
    """An opened key slot: the data key, and the KEK (in memory only) that unwraps the
    slot's other secrets ('audit': the user's signing seed; 'manager': the manager key)."""

    keys: "KeyFile"
    name: str
    data_key: bytes
    kek: bytes
    salt: str | None = None  # the slot's salt when it was opened: tells whether it was re-wrapped since

    def on(self, fresh: "KeyFile") -> "Slot":
        """This slot in the key file as read under the lock (inside ``KeyFile.update``), to
        ``put`` into. Refused when the slot was removed or re-wrapped since it was opened (a
        password changed in another window): a secret wrapped under this KEK would be unreadable."""
        entry = fresh.data["users"].get(self.name)
        if entry is None or (self.salt is not None and entry.get("salt") != self.salt):
            raise StoreError(f"The key slot of {self.name} was changed in another window since this unlock; nothing "
                             "was changed. Lock, then unlock again.")
        return Slot(fresh, self.name, self.data_key, self.kek, self.salt)

    def _aad(self, label: str) -> bytes:
        return f"{self.keys.register_id}|{self.name}|{label}".encode("utf-8")

    def get(self, label: str) -> bytes | None:
        sealed = self.keys.data["users"].get(self.name, {}).get("secrets", {}).get(label)
        if sealed is None:
            return None
        try:
            return AESGCM(_subkey(self.kek, label)).decrypt(_unb64(sealed["nonce"]), _unb64(sealed["wrapped"]),
                                                            self._aad(label))
        except InvalidTag:
            raise KeyDamaged(f"The key file's {label} key for {self.name} is damaged. Restore register.keys from "
                             "a backup, or ask a practice manager to reset the password.") from None

    def put(self, label: str, value: bytes) -> None:
        nonce = secrets.token_bytes(12)
        wrapped = AESGCM(_subkey(self.kek, label)).encrypt(nonce, value, self._aad(label))
        entry = self.keys.data["users"][self.name]
        entry.setdefault("secrets", {})[label] = {"nonce": _b64(nonce), "wrapped": _b64(wrapped)}


@dataclass
class Rewrap:
    """A user's entry wrapped again with KDF_DEFAULTS, made (Argon2 run and all) before the
    register opens; ``apply`` puts it into the key file as read under the lock."""

    name: str
    old_salt: str
    old_secrets: dict  # the slot's wrapped secrets when this entry was made
    entry: dict
    detail: str

    def apply(self, fresh: "KeyFile") -> None:
        current = fresh.data["users"].get(self.name)
        # A secret put into the slot since (this unlock's upgrade to the key hierarchy, a
        # claimed audit key) is wrapped under the old KEK: the new entry would drop it.
        if (current is None or current.get("salt") != self.old_salt
                or current.get("secrets", {}) != self.old_secrets):
            raise StoreError(f"The key slot of {self.name} was changed since this unlock began; it was not "
                             "re-wrapped.")
        fresh.data["users"][self.name] = self.entry


def prepare_rewrap(slot: Slot, password: str) -> Rewrap | None:
    """The new entry for a slot opened with superseded parameters, else None. The same data
    key, must-change flag and wrapped secrets (audit key, manager key), under a new salt."""
    keys, name = slot.keys, slot.name
    if not keys.superseded(name):
        return None
    old = keys.data["users"][name]
    extra = {label: slot.get(label) for label in old.get("secrets", {})}
    entry = keys._new_entry(name, password, slot.data_key, None, bool(old.get("must_change")), extra)
    return Rewrap(name, old["salt"], dict(old.get("secrets", {})), entry,
                  f"kdf {kdf_words(old['kdf'])} -> {kdf_words(entry['kdf'])}")


def kdf_words(kdf: dict) -> str:
    """Argon2id parameters for the audit trail: 't=6 m=128MiB p=6'."""
    m = kdf["m_kib"]
    return f"t={kdf['t']} m={f'{m // 1024}MiB' if m % 1024 == 0 else f'{m}KiB'} p={kdf['p']}"


def new_data_key() -> bytes:
    return secrets.token_bytes(32)


def new_register_id() -> str:
    return secrets.token_hex(16)


def kdf_seconds(kdf: dict | None = None) -> float:
    """Time one derivation with these parameters (used by benchmarks and the README figure)."""
    import time

    start = time.perf_counter()
    derive_kek("benchmark-password", os.urandom(16), dict(kdf or KDF_DEFAULTS))
    return time.perf_counter() - start
