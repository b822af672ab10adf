"""A register file moved to a server (gp-optout migrate-to-server) is kept, read-only.

Its settings hold 'moved_to_server' (which server and practice, when): the desk's one write
path refuses every change from then on, so a practice cannot go on recording in the file
after moving (hazard H-79). Reading, searching, verifying and backing it up still work.
"""

from __future__ import annotations

from . import meta
from .errors import StoreError

MOVED_KEY = "moved_to_server"


class MovedToServer(StoreError):
    """The register file was moved to a server; it is kept read-only."""


def moved(conn) -> dict | None:
    return meta.get(conn, MOVED_KEY)


def mark_moved(conn, record: dict) -> None:
    meta.put(conn, MOVED_KEY, record)


def refuse_if_moved(conn) -> None:
    where = moved(conn)
    if where:
        raise MovedToServer(f"This register file was moved to the server register (practice {where.get('practice')} "
                            f"on {where.get('server', '')}) on {str(where.get('at', ''))[:10]} and is kept read-only: "
                            "use the server register. Nothing was changed.")
