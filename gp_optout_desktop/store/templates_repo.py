"""The practice's own letter wording, one row per letter kind; a kind without a row uses the
template installed with the app (letters/templates.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class SavedTemplate:
    kind: str
    version: int
    text: str
    saved_by: str
    saved_at: str


def get(conn, kind: str) -> SavedTemplate | None:
    row = conn.execute("SELECT kind, version, text, saved_by, saved_at FROM letter_templates WHERE kind = ?",
                       (kind,)).fetchone()
    return SavedTemplate(*row) if row else None


def put(conn, kind: str, version: int, text: str, saved_by: str, saved_at: datetime) -> None:
    conn.execute("INSERT OR REPLACE INTO letter_templates(kind, version, text, saved_by, saved_at) VALUES (?,?,?,?,?)",
                 (kind, version, text, saved_by, saved_at.isoformat()))


def remove(conn, kind: str) -> int:
    return conn.execute("DELETE FROM letter_templates WHERE kind = ?", (kind,)).rowcount
