"""The wrong server sign-ins counted on this computer (services/server_throttle.py): one small
JSON file per Windows or POSIX user, shared by the desk window and every ``gp-optout`` command
that signs in to a server, so a script cannot step round the desk's count by using the CLI.

Every read-change-write holds an exclusive lock on a file beside it (store/filelock.py):
two commands run at once each see the other's count. The write is atomic (store/atomic.py):
a power cut leaves the old count or the new one. ``GP_OPTOUT_STATE_DIR`` moves the folder
(the tests: one folder per test).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from . import atomic, filelock

FILE_NAME = "server-sign-ins.json"
STATE_DIR_ENV = "GP_OPTOUT_STATE_DIR"
LOCK_WAIT_S = 10.0


def state_dir() -> Path:
    """This user's own folder for the program's state (not the register's: a server has none here)."""
    if os.environ.get(STATE_DIR_ENV):
        return Path(os.environ[STATE_DIR_ENV])
    if os.name == "nt":  # pragma: no cover - exercised on Windows workstations
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "gp-optout"
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "gp-optout"


class CountFile:
    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path is not None else state_dir() / FILE_NAME

    def load(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError):
            return None  # why: an unreadable count starts again, as a damaged one does (never locks a desk out)

    def save(self, text: str) -> None:
        atomic.write_bytes(self.path, text.encode("utf-8"))

    @contextmanager
    def held(self):
        atomic.make_private_dir(self.path.parent)
        with filelock.held(self.path.with_name(self.path.name + ".lock"), "count of wrong sign-ins",
                           timeout=LOCK_WAIT_S):
            atomic.remove_stale_temps(self.path)
            yield
