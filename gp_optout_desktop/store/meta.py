"""Register-wide settings and counters in the meta table (JSON values)."""

from __future__ import annotations

import json


def get(conn, key: str, default=None):
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return json.loads(row[0]) if row else default


def put(conn, key: str, value) -> None:
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, json.dumps(value, ensure_ascii=False)),
    )


def bump_revision(conn) -> int:
    """The register revision grows with every change; exports carry it."""
    revision = int(get(conn, "revision", 0)) + 1
    put(conn, "revision", revision)
    return revision


def revision(conn) -> int:
    return int(get(conn, "revision", 0))
