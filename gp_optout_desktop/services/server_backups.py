"""The Backups screen's two actions on a server practice (a practice manager's).

``export_practice``: the per-practice encrypted export of ``gp-optout export-from-server``
(services/server_export.py), into a folder the manager picks, under a dated new name, opening
with the manager's own sign-in password (checked against their key slot first, so an export
is never sealed under a mistyped password nobody knows).

``check_export``: proves an export file restores, without touching the server: it is restored
by the ordinary restore (every check of a backup: content hash, decryption with its own keys,
counts against its manifest, its own audit trail) into a register in a private temporary
folder, then the server's archived chain in it is re-checked MAC by MAC to the head its
signed entry names and every table's count compared with the counts the server had when it
was exported. The temporary register is deleted whatever happens.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable

from ..domain.errors import ValidationError
from ..domain.uk_time import uk
from ..store import atomic, from_server
from ..store.errors import RegisterCorrupt
from . import backup as backup_service, server_export, server_users
from .changes import ChangeSet

SUFFIX = ".gpbackup"  # the same format as a register backup: gp-optout restore opens it
WRONG_PASSWORD = ("That is not your password. The export opens with the password you sign in with, so type that "
                  "one. Nothing was written.")


def export_name(now: datetime, n: int = 1) -> str:
    return f"gp-optout-server-export-{uk(now):%Y-%m-%d-%H%M}{'' if n == 1 else f'-{n}'}{SUFFIX}"


def _free_name(folder: Path, now: datetime) -> Path:
    """A new file in ``folder`` (an export never replaces a file already there)."""
    for n in range(1, 100):
        out = folder / export_name(now, n)
        if not out.exists():
            return out
    raise ValidationError(f"{folder} already holds 99 exports made this minute: choose another folder. "
                          "Nothing was written.", "folder")


def export_practice(session, folder: Path, password: str,
                    progress: Callable[[str], None] | None = None) -> ChangeSet:
    """Export the signed-in manager's server practice into ``folder``."""
    session.require("backup")  # practice managers only; a refusal is audited on the server
    if not password:
        raise ValidationError("Type your password: the export opens with it. Nothing was written.", "password")
    folder = Path(folder)
    if not folder.is_dir():
        raise ValidationError(f"The folder {folder} does not exist (is the disk plugged in?). Nothing was written.",
                              "folder")
    if progress:
        progress("Checking your password…")
    server_users.confirm_own_password(session, password, WRONG_PASSWORD)
    out = _free_name(folder, session.now())
    report = server_export.export(session, out, password, progress)
    c = report.counts
    summary = (f"Exported the practice to {out.name}: {c['patients']} patients, {c['events']} events, "
               f"{c['letters']} letters, {c['users']} users and {c['audit']} audit entries, checked after writing "
               f"(the server's trail verified up to entry {report.server_head_seq}). It opens with your user name "
               f"({session.user}) and your password.")
    if not report.signing_key_carried:
        summary += (" Your sign-in does not hold the practice's manager key, so the exclusion file's signing key is "
                    "not in this export.")
    return ChangeSet(summary, session.revision(), areas=frozenset({"backup"}),
                     data={"file": str(out), "recovery_key": report.recovery_key, "counts": c,
                           "server_head": report.server_head_seq})


@dataclass
class CheckReport:
    file: str
    created_at: str
    counts: dict
    server_head: int
    audit_entries: int  # of the export's own trail, verified

    @property
    def summary(self) -> str:
        c = self.counts
        return (f"{self.file} restores: made {self.created_at}; {c['patients']} patients, {c['events']} events, "
                f"{c['letters']} letters and {c['users']} users, every count as the server had it; the server's "
                f"audit trail in it re-checked up to entry {self.server_head}, and the export's own trail "
                f"({self.audit_entries} entries) verified. Nothing was written to the server.")


def check_export(path: Path, user: str, password: str) -> CheckReport:
    """Restore ``path`` into a temporary register and check it (see the module's docstring)."""
    if not password:
        raise ValidationError("Type the password the export opens with (your password when it was made).",
                              "password")
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"{path} is not a file. Nothing was checked.", "file")
    scratch = Path(tempfile.mkdtemp(prefix="gp-optout-check-"))
    try:
        atomic.make_private_dir(scratch)
        file, change = backup_service.restore(scratch / "register", path, user, password)
        try:
            with file.read("backup") as conn:
                record = from_server.signed_record(conn)
                if record is None:
                    raise RegisterCorrupt(f"{path.name} is a register backup, not a server practice's export: "
                                          "restore it on the register file's Backups screen.")
                problems = from_server.verify_archive(conn, record)
                counts = from_server.counts(conn)
            problems += [f"{t}: {record['counts'][t]} on the server, {counts[t]} in the export."
                         for t in from_server.COUNTED if counts[t] != record["counts"].get(t)]
            verification = file.register.verify_audit()
            if not verification.ok:
                problems.append(f"the export's own audit trail does not verify: {verification.problem}")
            if problems:
                raise RegisterCorrupt(f"{path.name} does not check: {problems[0]} Do not rely on it.")
            return CheckReport(path.name, change.data["created_at"], counts, record["server_head"]["seq"],
                               verification.rows)
        finally:
            file.lock()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
