"""The exclusion file's signing key, export record and status on a server register (ADR 0015
addendum "signing the exclusion file on the server"); services/exclusion.py calls these for
a ServerSession and keeps everything else (the rows, the writer, the wording) shared."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..domain import practice_policy as policy
from ..domain.exclusion_rules import EXCLUDE_ALL_EXCEPT_LISTED, EXCLUDE_LISTED
from ..exclusion import signing
from ..exclusion.errors import ExportError
from ..store.server import signing as server_signing

NO_MANAGER_KEY = ("Your key slot on the server does not hold the manager key, which protects the exclusion file's "
                  "signing key: ask a practice manager who holds it to reset your password on the Users screen "
                  "(the temporary password then opens it), and sign in with that. Nothing was written.")


def signing_key(session) -> Ed25519PrivateKey:
    """The practice's key, opened with this manager's manager key (made at the practice's
    first manager sign-in or carried over by the migration)."""
    if session.manager_key is None:
        raise ExportError(NO_MANAGER_KEY)
    desk = session.desk
    with session.read_store("export"):
        seed = server_signing.signing_seed(desk.conn, session.manager_key, desk.keys.practice_ref)
    if seed is not None:
        return signing.private_key_from_bytes(seed)
    key = signing.generate_private_key()  # the manager key exists but no signing key yet
    with session.write("export", changes_register=False) as tx:
        server_signing.store_seed(tx, session.manager_key, signing.private_key_bytes(key), signing.key_id(key))
        tx.audit("export.signing_key_created", detail=f"key_id={signing.key_id(key)}")
    return key


def seed_if_held(session) -> bytes | None:
    """The signing seed, when this session holds the manager key and the practice has one
    (the practice's export carries it, so a restored register signs with the same key)."""
    if session.manager_key is None:
        return None
    desk = session.desk
    with session.read_store("export"):
        return server_signing.signing_seed(desk.conn, session.manager_key, desk.keys.practice_ref)


def record_export(session, record: dict, detail: str) -> None:
    with session.write("export", changes_register=False) as tx:
        server_signing.record_export(tx, record)
        tx.audit("exclusion.export", detail=detail)


def export_status(session):
    from .exclusion import ExportStatus

    with session.read_store("search") as store:
        last = server_signing.last_export(session.desk.conn)
        revision = store.revision()
        on = policy.is_on(store.policy_history(), as_of=session.today())
    return ExportStatus(last, revision, EXCLUDE_ALL_EXCEPT_LISTED if on else EXCLUDE_LISTED)


def new_manager_key() -> bytes:
    return os.urandom(32)
