"""A re-keyed practice's earlier keys (server schema V9, ADR 0015 addendum "re-keying a server
practice"): each re-key writes a ``key_epochs`` row holding every earlier audit and
blind-index key, sealed on the desk under the NEW field key (bound to practice and epoch), so
a desk holding the current data key verifies the whole chain and finds a patient's entries
written before the re-key. Nothing here is readable without the current key."""

from __future__ import annotations

import dataclasses

from .crypto import PracticeKeys

TABLE = "key_epochs"  # the sealed blob's binding (crypto.PracticeKeys.seal)


def seal_retired(new: PracticeKeys, practice_id: int, epoch: int, old: PracticeKeys) -> bytes:
    """Every key before ``new``: the old keys' own retired ones, then the old keys."""
    return new.seal(practice_id, TABLE, epoch, {
        "audit": [k.hex() for k in (*old.retired_audit_keys, old.audit_key)],
        "index": [k.hex() for k in (*old.retired_index_keys, old.index_key)]})


def with_retired(conn, keys: PracticeKeys, practice_id: int) -> tuple[PracticeKeys, int]:
    """``keys`` with the earlier epochs' keys, and the practice's epoch (0: never re-keyed)."""
    row = conn.execute("SELECT epoch, retired FROM key_epochs WHERE practice_id = %s ORDER BY epoch DESC LIMIT 1",
                       (practice_id,)).fetchone()
    if row is None:
        return keys, 0
    retired = keys.open(practice_id, TABLE, row[0], row[1])
    return dataclasses.replace(keys, retired_audit_keys=tuple(bytes.fromhex(k) for k in retired["audit"]),
                               retired_index_keys=tuple(bytes.fromhex(k) for k in retired["index"])), row[0]


def epochs(conn, practice_id: int) -> list[tuple[int, int, str]]:
    """(epoch, epoch entry's seq, new key's id), in order."""
    return [tuple(r) for r in conn.execute(
        "SELECT epoch, epoch_seq, key_id FROM key_epochs WHERE practice_id = %s ORDER BY epoch", (practice_id,))]
