"""Hearing other desks' changes on the server (issue 15, live desks; docs/adr/0005).

Every write transaction ends with ``pg_notify('gp_optout_practice_<id>', {"rev": n,
"patients": [...]})`` (ops.py), delivered at commit only, so a rolled-back write is never
heard. A ``Listener`` holds its own connection (never the desk's working one: a LISTEN must
outlive the desk's transactions and a read must not wait behind a notification loop), LISTENs
on its practice's channel and waits for notifications with a timeout.

NOTIFY is not replayed, and any login may NOTIFY on any channel: the watcher
(services/live.py) takes a notice as a wake-up and asks ``changes_since(revision)``, one
indexed read of the ``changes`` table (schema V2) under row-level security, in one snapshot
with the practice's revision; so does a desk that was disconnected. LISTEN is issued before
that read, so a change committed in between is heard twice at worst (the watcher ignores
revisions it has seen), never missed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import psycopg

from ..errors import StoreError
from . import schema
from .ops import channel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notice:
    """What a notification says: a revision and the patient ids it touched (a claim, checked by
    reading ``changes``). ``patients`` is None when the list was too long for one notification
    (ops.notify_payload)."""

    revision: int | None  # None: a notice that could not be read
    patients: tuple[int, ...] | None


def parse_payload(payload: str) -> Notice:
    """A notification's payload, checked: exactly a revision and a list of patient ids."""
    try:
        data = json.loads(payload)
    except ValueError:
        raise StoreError("A change notice from the server could not be read.") from None
    if not isinstance(data, dict) or set(data) != {"rev", "patients"} or type(data["rev"]) is not int:
        raise StoreError("A change notice from the server is not in the expected form.")
    ids = data["patients"]
    if ids is None:
        return Notice(data["rev"], None)
    if not isinstance(ids, list) or any(type(i) is not int for i in ids):
        raise StoreError("A change notice from the server is not in the expected form.")
    return Notice(data["rev"], tuple(ids))


def _read(payload: str) -> Notice:
    try:
        return parse_payload(payload)
    except StoreError:
        log.warning("a change notice in an unexpected form was heard; treated as a wake-up only")
        return Notice(None, None)


# The practice's revision and the patients changed after a revision, in one snapshot; the
# range is read from the primary key (practice_id, revision, patient_id).
CHANGES_SINCE = ("SELECT p.revision, ARRAY(SELECT DISTINCT c.patient_id FROM changes c"
                 " WHERE c.practice_id = p.id AND c.revision > %s ORDER BY 1)"
                 " FROM practices p WHERE p.id = %s")


class Listener:
    """One desk's listening connection to its practice's channel."""

    def __init__(self, conn: psycopg.Connection, practice_id: int):
        self.conn, self.practice_id = conn, practice_id

    @classmethod
    def open(cls, conn: psycopg.Connection) -> "Listener":
        """LISTEN on the practice this login belongs to (row-level security shows it no other)."""
        conn.autocommit = True  # a notification is delivered only between transactions
        schema.check_version(conn)
        row = conn.execute("SELECT id FROM practices").fetchone()
        if row is None:
            raise StoreError("This login is not mapped to a practice on the server.")
        conn.execute(f"LISTEN {channel(row[0])}")  # a channel is an identifier: not a parameter
        return cls(conn, row[0])

    def revision(self) -> int:
        return self.conn.execute("SELECT revision FROM practices WHERE id = %s", (self.practice_id,)).fetchone()[0]

    def changes_since(self, revision: int) -> tuple[int, tuple[int, ...]]:
        """(the practice's revision now, the patient ids changed after ``revision``), read in one
        statement so both come from the same snapshot."""
        row = self.conn.execute(CHANGES_SINCE, (revision, self.practice_id)).fetchone()
        return row[0], tuple(row[1])

    def wait(self, timeout: float) -> list[Notice]:
        """The notifications that arrive within ``timeout`` seconds (the first one and any
        queued with it). Raises psycopg.OperationalError when the connection is lost. Any login
        may NOTIFY on any channel, so a notice that cannot be read is not an error of this
        desk's: it comes back as ``Notice(None, None)``, a wake-up only."""
        heard = list(self.conn.notifies(timeout=timeout, stop_after=1))
        if heard:  # drain whatever else has already arrived, without waiting again
            heard += list(self.conn.notifies(timeout=0))
        return [_read(n.payload) for n in heard]

    def close(self) -> None:
        self.conn.close()
