"""Registration with the practice (registered, deducted, deceased, temporary, merged), and
moving a superseded NHS number's history onto the record that replaced it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from ..domain.practice_list import REGISTERED


@dataclass(frozen=True)
class Registration:
    status: str
    since: date | None
    died_on: date | None
    reregistered_on: date | None
    merged_into: int | None


_NONE = Registration(REGISTERED, None, None, None, None)


def _d(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def get(conn, patient_id: int) -> Registration:
    row = conn.execute("SELECT status, since, died_on, reregistered_on, merged_into FROM registration"
                       " WHERE patient_id = ?", (patient_id,)).fetchone()
    return Registration(row[0], _d(row[1]), _d(row[2]), _d(row[3]), row[4]) if row else _NONE


def all_states(conn) -> dict[int, Registration]:
    return {r[0]: Registration(r[1], _d(r[2]), _d(r[3]), _d(r[4]), r[5]) for r in conn.execute(
        "SELECT patient_id, status, since, died_on, reregistered_on, merged_into FROM registration")}


_PUT = ("INSERT INTO registration(patient_id, status, since, died_on, reregistered_on, merged_into, updated_at,"
        " updated_by) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(patient_id) DO UPDATE SET status = excluded.status,"
        " since = excluded.since, died_on = excluded.died_on, reregistered_on = excluded.reregistered_on,"
        " merged_into = excluded.merged_into, updated_at = excluded.updated_at, updated_by = excluded.updated_by")


def _params(patient_id: int, reg: Registration, by: str, at: datetime) -> tuple:
    return (patient_id, reg.status, reg.since.isoformat() if reg.since else None,
            reg.died_on.isoformat() if reg.died_on else None,
            reg.reregistered_on.isoformat() if reg.reregistered_on else None, reg.merged_into, at.isoformat(), by)


def put(conn, patient_id: int, reg: Registration, *, by: str, at: datetime) -> None:
    conn.execute(_PUT, _params(patient_id, reg, by, at))


def put_many(conn, regs: list[tuple[int, Registration]], *, by: str, at: datetime) -> None:
    """A whole first practice list at once (one call, not 15,000)."""
    conn.executemany(_PUT, [_params(pid, reg, by, at) for pid, reg in regs])


def counts(conn) -> dict[str, int]:
    return dict(conn.execute("SELECT status, count(*) FROM registration GROUP BY status").fetchall())


def move_history(conn, from_id: int, to_id: int) -> int:
    """A merge: every event, letter and signpost of the superseded record moves to the new one
    (forms keep their ids, so a guardian's form still links its children). Returns events moved."""
    moved = conn.execute("UPDATE events SET patient_id = ? WHERE patient_id = ?", (to_id, from_id)).rowcount
    conn.execute("UPDATE events SET submitted_by = ? WHERE submitted_by = ?", (to_id, from_id))
    conn.execute("UPDATE letters SET patient_id = ? WHERE patient_id = ?", (to_id, from_id))
    conn.execute("UPDATE signposts SET patient_id = ? WHERE patient_id = ?", (to_id, from_id))
    conn.execute("DELETE FROM current_state WHERE patient_id = ?", (from_id,))
    return moved
