"""A register file moved to a server (gp-optout migrate-to-server) is kept, read-only.

Its settings hold 'moved_to_server' (which server and practice, when): the desk's one write
path refuses every change from then on, so a practice cannot go on recording in the file, or
sending exclusion files made from it, after moving (hazard H-79). Audited reads (viewing,
checking, verifying and exporting the audit trail, backing up) and a restore still work.
"""

from __future__ import annotations

from . import meta
from .errors import StoreError

MOVED_KEY = "moved_to_server"
# What a moved file still allows: audited reads that change no data, and the manager's restore.
STILL_ALLOWED = frozenset({"search", "view_patient", "view_audit", "backup", "restore"})


class MovedToServer(StoreError):
    """The register file was moved to a server; it is kept read-only."""


def moved(conn) -> dict | None:
    return meta.get(conn, MOVED_KEY)


def mark_moved(conn, record: dict) -> None:
    meta.put(conn, MOVED_KEY, record)


def refuse_if_moved(conn, permission: str = "", changes_register: bool = True) -> None:
    if permission in STILL_ALLOWED and not changes_register:
        return
    where = moved(conn)
    if where:
        raise MovedToServer(f"This register file was moved to the server register (practice {where.get('practice')} "
                            f"on {where.get('server', '')}) on {str(where.get('at', ''))[:10]} and is kept read-only: "
                            "use the server register. Nothing was changed.")
