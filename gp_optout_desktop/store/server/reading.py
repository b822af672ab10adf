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
