"""Run the register file's portable SQL on the server (docs/adr/0005): ``?`` placeholders
become psycopg's ``%s``, and dates come back as ISO text, as SQLite gives them.

For the shared store modules whose SQL both engines accept (no ``INSERT OR REPLACE``, no
``lastrowid``, no PRAGMA): under row-level security their rows get ``practice_id`` from the
column default (app_practice()), so the statements need not name it.
"""

from __future__ import annotations

from psycopg.types.string import TextLoader


def qmark_to_format(sql: str) -> str:
    """``?`` outside quoted literals and identifiers -> ``%s``; a literal ``%`` -> ``%%``
    (psycopg reads ``%`` everywhere in a query that has parameters, quotes or not)."""
    out, quote = [], None
    for ch in sql:
        if quote:
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
        elif ch == "?":
            out.append("%s")
            continue
        out.append("%%" if ch == "%" else ch)
    if quote:
        raise ValueError("unterminated quoted text in SQL")
    return "".join(out)


class Adapted:
    """A psycopg connection seen through the DB-API surface the shared store modules use."""

    def __init__(self, conn):
        self.conn = conn
        conn.adapters.register_loader("date", TextLoader)  # 'YYYY-MM-DD', as the register file stores it

    def execute(self, sql: str, params=None):
        if params is None:
            return self.conn.execute(sql)
        return self.conn.execute(qmark_to_format(sql), list(params))

    def executemany(self, sql: str, seq_of_params):
        cur = self.conn.cursor()
        cur.executemany(qmark_to_format(sql), [list(p) for p in seq_of_params])
        return cur
