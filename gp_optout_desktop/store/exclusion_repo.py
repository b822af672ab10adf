"""SQL for the exclusion file: who is listed, the signing key, and the last export.

Reads the derived current_state table (one row per patient and kind, kept in step with
the events in the same transaction) instead of replaying 1,000,000 histories: the two
queries below touch only the ~100,000 rows with an active state, through the
current_active index, and join patients by primary key.
"""

from __future__ import annotations

from . import meta

SIGNING_KEY = "export_signing_key"  # hex of the raw 32-byte Ed25519 seed: only inside the encrypted register
LAST_EXPORT = "last_export"

# Patients with an active Type 1 objection (the NHS number may be NULL: not known). Type 2
# never controlled extraction from the practice (format version 2): a Type 2-only patient is
# not listed.
_OBJECTORS = """
SELECT s.patient_id, p.nhs, s.kind, s.since
FROM current_state AS s JOIN patients AS p ON p.id = s.patient_id
WHERE s.kind = 'type1' AND s.active = 1
"""

# Patients who asked to be included and have no active Type 1 objection of their own.
_INCLUDERS = """
SELECT s.patient_id, p.nhs, s.since
FROM current_state AS s JOIN patients AS p ON p.id = s.patient_id
WHERE s.kind = 'include' AND s.active = 1
  AND NOT EXISTS (SELECT 1 FROM current_state AS o
                  WHERE o.patient_id = s.patient_id AND o.kind = 'type1' AND o.active = 1)
"""


def objector_rows(conn) -> list[tuple[int, str | None, str, str]]:
    """(patient id, nhs or None, kind, since ISO date): one row per active Type 1 objection."""
    return conn.execute(_OBJECTORS).fetchall()


def includer_rows(conn) -> list[tuple[int, str | None, str]]:
    return conn.execute(_INCLUDERS).fetchall()


def count_objecting_patients(conn) -> int:
    """Reconciliation count from the index alone (no join, no Python): patients with an active Type 1 objection."""
    return conn.execute(
        "SELECT count(DISTINCT patient_id) FROM current_state WHERE kind = 'type1' AND active = 1"
    ).fetchone()[0]


def count_includers(conn) -> int:
    return conn.execute(f"SELECT count(*) FROM ({_INCLUDERS})").fetchone()[0]


def signing_key(conn, manager_key: bytes, register_id: str) -> bytes | None:
    """The exclusion seed, which is wrapped under the manager key (docs/adr/0006): a
    receptionist or GP, who holds the data key but not the manager key, cannot read it."""
    from . import certs

    sealed = meta.get(conn, certs.EXCLUSION_SEED)
    return certs.open_exclusion_seed(manager_key, register_id, sealed) if sealed else None


def store_signing_key(conn, raw: bytes, manager_key: bytes, register_id: str) -> None:
    from . import certs

    meta.put(conn, certs.EXCLUSION_SEED, certs.seal_exclusion_seed(manager_key, register_id, raw))
    conn.execute("DELETE FROM meta WHERE key = ?", (SIGNING_KEY,))


def seal_plain_seed(conn, manager_key: bytes, register_id: str) -> None:
    """Upgrade: move a seed kept in the clear (before schema 4) under the manager key."""
    value = meta.get(conn, SIGNING_KEY)
    if value:
        store_signing_key(conn, bytes.fromhex(value), manager_key, register_id)


def last_export(conn) -> dict | None:
    return meta.get(conn, LAST_EXPORT)


def record_export(conn, record: dict) -> None:
    meta.put(conn, LAST_EXPORT, record)
