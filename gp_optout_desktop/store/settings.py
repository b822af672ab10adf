"""Practice settings kept in the register's meta table (so every workstation shares them)."""

from __future__ import annotations

from . import meta

IDLE_LOCK_KEY = "idle_lock_minutes"


def idle_lock_minutes(conn) -> int | None:
    value = meta.get(conn, IDLE_LOCK_KEY)
    return int(value) if value is not None else None


def set_idle_lock_minutes(conn, minutes: int) -> None:
    meta.put(conn, IDLE_LOCK_KEY, int(minutes))


def practice(conn) -> dict:
    return dict(meta.get(conn, "practice", {}))


def set_practice(conn, details: dict) -> None:
    meta.put(conn, "practice", details)


CODING_TARGET_KEY = "coding_target_working_days"


def coding_target_working_days(conn) -> int | None:
    value = meta.get(conn, CODING_TARGET_KEY)
    return int(value) if value is not None else None


def set_coding_target_working_days(conn, days: int) -> None:
    meta.put(conn, CODING_TARGET_KEY, int(days))
