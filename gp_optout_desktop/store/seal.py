"""The seal: a small file beside the register recording how far it has got, so a register
that lost acknowledged changes is refused instead of read as if complete.

SQLite's write-ahead log keeps the newest commits until a checkpoint copies them into
register.db. A crash followed by a damaged, truncated or deleted register.db-wal makes
SQLite silently drop those commits (it checks frame checksums and stops at the first bad
one). So after every commit, before the service returns, ``register.seal`` is rewritten
atomically (temp file, fsync, rename, fsync the folder) with the commit counter and the
revision, authenticated by HMAC-SHA256 under a random key kept inside the encrypted
register (``meta.seal_key``: it survives re-keying, and only someone who can open the
register can forge a seal). At open, a register whose counter is behind its seal is
refused. See docs/adr/0007-no-silent-loss.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from . import atomic, filelock, meta
from .errors import RegisterBehind, RegisterCorrupt

SEAL_NAME = "register.seal"
LOCK_NAME = "register.seal.lock"
FORMAT = 1
SLOT = 256  # bytes per slot; the file is two slots
COMMIT_KEY = "commit_seq"
KEY_KEY = "seal_key"

WAY_OUT = ("It was not opened, so nothing more is lost. Restore the latest backup ('Restore the latest backup' "
           "on the unlock screen, or 'gp-optout restore --from FILE --replace-unreadable'), then enter again anything "
           "recorded since that backup was made.")


def _body(commit_seq: int, revision: int) -> bytes:
    # No register id: the MAC key is random per register, so another register's seal fails the MAC.
    return json.dumps({"format": FORMAT, "commit_seq": commit_seq, "revision": revision}, sort_keys=True, separators=(",", ":")).encode("ascii")


def _mac(key: bytes, body: bytes) -> str:
    return hmac.new(key, b"gp-optout seal|" + body, hashlib.sha256).hexdigest()


@dataclass
class Seal:
    """Writes the seal for one open register. ``bump`` runs inside each write transaction;
    Database.transaction then does the COMMIT and ``write`` under ``lock()`` (one lock for
    all processes), so seals from two windows can never be written out of order."""

    folder: Path
    key: bytes

    @property
    def path(self) -> Path:
        return self.folder / SEAL_NAME

    def lock(self):
        return filelock.held(self.folder / LOCK_NAME, "register")

    def bump(self, conn) -> tuple[int, int]:
        seq = int(meta.get(conn, COMMIT_KEY, 0)) + 1
        meta.put(conn, COMMIT_KEY, seq)
        return seq, meta.revision(conn)

    def write(self, commit_seq: int, revision: int) -> None:
        """Overwrite the older of the file's two slots in place, then flush it to disk (one
        fdatasync: no temp file, no folder fsync). A write torn by a power cut damages only
        the slot being written, whose commit was not yet acknowledged; the other slot still
        holds the one before."""
        record = _slot(self.key, commit_seq, revision)
        fd = os.open(self.path, os.O_WRONLY | getattr(os, "O_BINARY", 0))
        try:
            os.lseek(fd, (commit_seq % 2) * SLOT, os.SEEK_SET)
            os.write(fd, record)
            (os.fdatasync if hasattr(os, "fdatasync") else os.fsync)(fd)
        finally:
            os.close(fd)

    def create(self, commit_seq: int, revision: int) -> None:
        """A new seal file with both slots, written atomically (temp file, fsync, rename)."""
        record = _slot(self.key, commit_seq, revision)
        atomic.write_bytes(self.path, record + record)


def _slot(key: bytes, commit_seq: int, revision: int) -> bytes:
    body = _body(commit_seq, revision)
    record = json.dumps({"body": body.decode("ascii"), "mac": _mac(key, body)}).encode("ascii")
    if len(record) >= SLOT:
        raise ValueError("seal record too long")
    return record + b" " * (SLOT - 1 - len(record)) + b"\n"


def _read(path: Path, key: bytes) -> dict:
    """The newest slot that parses and authenticates; damaged if none does."""
    damaged = RegisterCorrupt(
        f"The register's seal ({SEAL_NAME}) is damaged or does not belong to this register, so it cannot be told "
        f"whether saved changes were lost. {WAY_OUT}")
    try:
        raw = path.read_bytes()
    except OSError:
        raise damaged from None
    if len(raw) != 2 * SLOT:
        raise damaged
    best = None
    for slot in (raw[:SLOT], raw[SLOT:]):
        try:
            record = json.loads(slot.decode("ascii"))
            body = record["body"].encode("ascii")
            if not hmac.compare_digest(_mac(key, body), record["mac"]):
                continue
            data = json.loads(body)
            if data.get("format") != FORMAT:
                continue
            found = {"commit_seq": int(data["commit_seq"]), "revision": int(data["revision"])}
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeError):
            continue  # why: a torn or damaged slot; the other slot is used, and neither valid raises `damaged`
        if best is None or found["commit_seq"] > best["commit_seq"]:
            best = found
    if best is None:
        raise damaged
    return best


def check(conn, folder: Path) -> Seal | None:
    """Check the register against its seal before anything else reads or writes it.

    A register behind its seal is refused (RegisterBehind); one ahead of it (a crash between
    a commit and its seal write: that change was never acknowledged) is simply resealed.
    Returns None for a register from before seals (``first`` then gives it one)."""
    folder = Path(folder)
    raw_key = meta.get(conn, KEY_KEY)
    seal_path = folder / SEAL_NAME
    with filelock.held(folder / LOCK_NAME, "register"):
        atomic.remove_stale_temps(seal_path)
        if raw_key is None:
            if seal_path.exists():
                raise RegisterBehind(
                    f"The register has lost saved changes: its seal ({SEAL_NAME}) records changes that the register "
                    f"file no longer contains (its write-ahead log was lost or damaged). {WAY_OUT}")
            return None
        seal = Seal(folder, bytes.fromhex(raw_key))
        if not seal_path.exists():
            raise RegisterBehind(
                f"The register's seal ({SEAL_NAME}) is missing, so it cannot be told whether saved changes were "
                f"lost (a crash, a damaged disk or a partial copy of the register folder). {WAY_OUT}")
        recorded = _read(seal_path, seal.key)
        have = int(meta.get(conn, COMMIT_KEY, 0))
        if have < recorded["commit_seq"]:
            lost = recorded["commit_seq"] - have
            raise RegisterBehind(
                f"The register has lost {lost} saved change{'s' if lost != 1 else ''}: it holds changes up to number "
                f"{have}, but number {recorded['commit_seq']} was saved and acknowledged (revision "
                f"{recorded['revision']}). Its write-ahead log (register.db-wal) was lost or damaged, probably by a "
                f"crash or a disk fault. {WAY_OUT}")
        if have > recorded["commit_seq"]:
            seal.write(have, meta.revision(conn))
        return seal


def first(conn, folder: Path) -> Seal:
    """Give a new register, or one from before seals, its seal key and first seal."""
    folder = Path(folder)
    with filelock.held(folder / LOCK_NAME, "register"):
        conn.execute("BEGIN IMMEDIATE")
        try:
            existing = meta.get(conn, KEY_KEY)  # another window upgrading the same register got here first
            key = bytes.fromhex(existing) if existing else secrets.token_bytes(32)
            seal = Seal(folder, key)
            if not existing:
                meta.put(conn, KEY_KEY, key.hex())
            sealed = seal.bump(conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        seal.create(*sealed)
    return seal


def reseal(conn, folder: Path) -> None:
    """Write a fresh seal for the register now in ``folder`` (after a restore swapped it in)."""
    folder = Path(folder)
    raw_key = meta.get(conn, KEY_KEY)
    with filelock.held(folder / LOCK_NAME, "register"):
        if raw_key is None:
            (folder / SEAL_NAME).unlink(missing_ok=True)  # the register predates seals: the next open seals it
            return
        seal = Seal(folder, bytes.fromhex(raw_key))
        seal.create(int(meta.get(conn, COMMIT_KEY, 0)), meta.revision(conn))
