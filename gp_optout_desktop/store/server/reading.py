"""Reads on a desk's connection to the server: a lost server in words, and one snapshot for a
search and its result rows (ADR 0015)."""

from __future__ import annotations

from contextlib import contextmanager

import psycopg

from ..errors import ServerUnreachable
from .ops import UNREACHABLE


@contextmanager
def unreachable_in_words(conn):
    """A server lost during a read is the desk's one sentence, never psycopg's exception.
    Only a lost connection: any other OperationalError is a bug to see (as Desk.write)."""
    try:
        yield
    except psycopg.OperationalError:
        if conn.broken or conn.closed:
            raise ServerUnreachable(UNREACHABLE) from None
        raise


@contextmanager
def snapshot(conn):
    """One REPEATABLE READ, READ ONLY transaction on an autocommit connection: every statement
    inside sees the register as it was at the first one, whatever other desks commit meanwhile.
    Begun with its options in one statement and ended by ROLLBACK (it wrote nothing): two round
    trips around the reads, which count over a wide-area network."""
    with unreachable_in_words(conn):
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        try:
            yield
        finally:
            if not conn.closed:  # a lost connection has no transaction left to end
                conn.execute("ROLLBACK")


def probe(conn) -> None:
    """One round trip on a connection that may have died with a server restart: psycopg marks
    it broken only when it is used, so the desk's next action would fail once for nothing.
    A dead one is left ``broken`` for the caller to replace; a live one is left as it was."""
    if conn.closed or conn.broken:
        return
    try:
        conn.execute("SELECT 1")
    except psycopg.OperationalError:
        pass  # why: the connection now says broken itself; the caller connects again
