"""SQL for the practice's corrections of the objection code table (schema V6)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SavedTable:
    version: int
    text: str | None  # None: the table shipped with the release
    reason: str
    saved_by: str
    saved_at: str


def current(conn) -> SavedTable | None:
    row = conn.execute("SELECT version, text, reason, saved_by, saved_at FROM code_tables "
                       "ORDER BY version DESC LIMIT 1").fetchone()
    return SavedTable(*row) if row else None


def history(conn) -> list[SavedTable]:
    return [SavedTable(*r) for r in conn.execute(
        "SELECT version, text, reason, saved_by, saved_at FROM code_tables ORDER BY version")]


def insert(conn, text: str | None, reason: str, by: str, at: str) -> int:
    cur = conn.execute("INSERT INTO code_tables(text, reason, saved_by, saved_at) VALUES (?, ?, ?, ?)",
                       (text, reason, by, at))
    return cur.lastrowid
