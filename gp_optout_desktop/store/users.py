"""Users and roles inside the register (the role is authoritative here, not in the key file)."""

from __future__ import annotations

from datetime import datetime

from .errors import Conflict, NotFound


def role_of(conn, name: str) -> str | None:
    row = conn.execute("SELECT role FROM users WHERE name = ? AND active = 1", (name,)).fetchone()
    return row[0] if row else None


def add(conn, name: str, role: str, *, by: str, at: datetime) -> None:
    row = conn.execute("SELECT active FROM users WHERE name = ?", (name,)).fetchone()
    if row and row[0]:
        raise Conflict(f"There is already a user called {name}.")
    conn.execute(
        "INSERT INTO users(name, role, active, created_at, created_by) VALUES (?,?,1,?,?)"
        " ON CONFLICT(name) DO UPDATE SET role = excluded.role, active = 1,"
        " created_at = excluded.created_at, created_by = excluded.created_by",
        (name, role, at.isoformat(), by),
    )


def deactivate(conn, name: str) -> None:
    if conn.execute("UPDATE users SET active = 0 WHERE name = ? AND active = 1", (name,)).rowcount == 0:
        raise NotFound(f"There is no user called {name}.")


def set_role(conn, name: str, role: str) -> None:
    if conn.execute("UPDATE users SET role = ? WHERE name = ? AND active = 1", (role, name)).rowcount == 0:
        raise NotFound(f"There is no user called {name}.")


def active(conn) -> list[tuple[str, str]]:
    return [tuple(r) for r in conn.execute("SELECT name, role FROM users WHERE active = 1 ORDER BY name")]


def count_role(conn, role: str) -> int:
    return conn.execute("SELECT count(*) FROM users WHERE active = 1 AND role = ?", (role,)).fetchone()[0]
