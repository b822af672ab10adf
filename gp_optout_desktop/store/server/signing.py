"""The exclusion file's signing key on the server (schema V5; ADR 0015 addendum "signing the
exclusion file on the server"): the practice's manager key in each manager's own slot, the
signing seed sealed under it, the export records. Everything is wrapped or sealed on the
desk; the server stores ciphertext it cannot open."""

from __future__ import annotations

import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import KeyDamaged
from .crypto import NONCE_BYTES, unwrap_data_key, wrap_data_key


def _slot_user(login: str) -> str:
    return f"{login}|manager"  # its own label: a data-key slot never opens as a manager slot


def wrap_manager_key(unwrap_key: bytes, manager_key: bytes, practice_ref: str, login: str) -> bytes:
    return wrap_data_key(unwrap_key, manager_key, practice_ref, _slot_user(login))


def put_manager_slot(tx, login: str, unwrap_key: bytes, manager_key: bytes) -> None:
    tx.conn.execute("DELETE FROM manager_slots WHERE name = %s", (login,))
    tx.conn.execute("INSERT INTO manager_slots(name, slot) VALUES (%s, %s)",
                    (login, wrap_manager_key(unwrap_key, manager_key, tx.desk.keys.practice_ref, login)))


def manager_key(conn, unwrap_key: bytes, practice_ref: str, login: str) -> bytes | None:
    """This login's manager key (row-level security shows a login only its own slot)."""
    row = conn.execute("SELECT slot FROM manager_slots WHERE name = %s", (login,)).fetchone()
    return unwrap_data_key(unwrap_key, row[0], practice_ref, _slot_user(login)) if row else None


def _aad(practice_ref: str) -> bytes:
    return f"gp-optout exclusion-signing|{practice_ref}".encode("utf-8")


def seal_seed(manager_key: bytes, practice_ref: str, seed: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(manager_key).encrypt(nonce, seed, _aad(practice_ref))


def signing_seed(conn, manager_key: bytes, practice_ref: str) -> bytes | None:
    row = conn.execute("SELECT sealed FROM signing_keys").fetchone()
    if row is None:
        return None
    sealed = bytes(row[0])
    try:
        return AESGCM(manager_key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _aad(practice_ref))
    except InvalidTag:
        raise KeyDamaged("The exclusion file's signing key on the server does not open with your manager key: it "
                         "was damaged or replaced. Nothing was written.") from None


def has_signing_key(conn) -> bool:
    return conn.execute("SELECT EXISTS (SELECT 1 FROM signing_keys)").fetchone()[0]


def store_seed(tx, manager_key: bytes, seed: bytes, key_id: str) -> None:
    sealed = seal_seed(manager_key, tx.desk.keys.practice_ref, seed)
    tx.conn.execute("INSERT INTO signing_keys(sealed, key_id, saved_by) VALUES (%s, %s, %s)"
                    " ON CONFLICT (practice_id) DO UPDATE SET sealed = excluded.sealed, key_id = excluded.key_id,"
                    " saved_by = excluded.saved_by, saved_at = now()", (sealed, key_id, tx.desk.user))


def record_export(tx, record: dict) -> None:
    tx.conn.execute("INSERT INTO exclusion_exports(record) VALUES (%s)", (json.dumps(record, sort_keys=True),))


def last_export(conn) -> dict | None:
    row = conn.execute("SELECT record FROM exclusion_exports ORDER BY id DESC LIMIT 1").fetchone()
    return json.loads(row[0]) if row else None


def create_first(tx, login: str, unwrap_key: bytes, manager_key: bytes, seed: bytes, key_id: str) -> bool:
    """A practice's first manager key and signing key, made on a manager's desk at sign-in
    (ADR 0015 addendum). False, and nothing written, if another manager's desk made them first."""
    sealed = seal_seed(manager_key, tx.desk.keys.practice_ref, seed)
    made = tx.conn.execute("INSERT INTO signing_keys(sealed, key_id, saved_by) VALUES (%s, %s, %s)"
                           " ON CONFLICT (practice_id) DO NOTHING RETURNING key_id",
                           (sealed, key_id, login)).fetchone()
    if made is None:
        return False
    put_manager_slot(tx, login, unwrap_key, manager_key)
    return True


def current_key_id(conn, *, lock: bool = False) -> str | None:
    """The key id of the practice's signing key (``lock``: its row held until the transaction
    ends, so two managers replacing it at once are taken one after the other)."""
    row = conn.execute("SELECT key_id FROM signing_keys" + (" FOR UPDATE" if lock else "")).fetchone()
    return row[0] if row else None


def retire_public_key(tx, key_id: str, public_pem: str) -> None:
    """The replaced key's public half kept (schema V9), so files it signed can still be checked."""
    tx.conn.execute("INSERT INTO retired_signing_keys(key_id, public_pem, retired_by) VALUES (%s, %s, %s)"
                    " ON CONFLICT (practice_id, key_id) DO NOTHING", (key_id, public_pem, tx.desk.user))


def retired_public_keys(conn) -> list[tuple[str, str, object, str]]:
    """(key id, PEM, retired at, retired by), oldest first."""
    return [tuple(r) for r in conn.execute(
        "SELECT key_id, public_pem, retired_at, retired_by FROM retired_signing_keys ORDER BY retired_at, key_id")]
