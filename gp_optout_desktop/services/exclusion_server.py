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


def replace_signing_key(session):
    """A new Ed25519 key, sealed under this manager's manager key, in ONE transaction with the
    old key's public half kept as retired (schema V9: files it signed still verify against it)
    and the audit entry; the revision moves on, so the last file shows as out of date (as on
    the register file). Two managers replacing at once: the second is told and writes nothing."""
    from ..store.errors import Conflict
    from .changes import ChangeSet

    old = signing_key(session)  # NO_MANAGER_KEY without it; made (and audited) if the practice had none
    key = signing.generate_private_key()
    old_id, new_id = signing.key_id(old), signing.key_id(key)
    with session.write("export") as tx:
        if server_signing.current_key_id(tx.conn, lock=True) != old_id:
            raise Conflict("Another practice manager replaced the signing key just now. Nothing was changed: "
                           "export its public key from this screen.")
        server_signing.retire_public_key(tx, old_id, signing.public_key_pem(old).decode("ascii"))
        server_signing.store_seed(tx, session.manager_key, signing.private_key_bytes(key), new_id)
        tx.audit("export.signing_key_replaced", detail=f"old_key_id={old_id} new_key_id={new_id}")
    return ChangeSet(REPLACED.format(new=new_id, old=old_id), tx.revision, areas=frozenset({"export"}),
                     data={"key_id": new_id, "old_key_id": old_id})


REPLACED = ("New signing key {new} (was {old}). Export the public key and install it on the system that reads the "
            "exclusion file, then export the exclusion file: until then that system refuses new files (it fails "
            "closed, so nothing is extracted).")


def retired_public_keys(session) -> list[tuple[str, str, object, str]]:
    """The practice's retired public keys (key id, PEM, when, by whom): to check a file signed
    before a replacement."""
    with session.read_store("export"):
        return server_signing.retired_public_keys(session.desk.conn)


def new_manager_key() -> bytes:
    return os.urandom(32)
