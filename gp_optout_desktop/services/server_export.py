"""The practice's encrypted export from a server register (issue 15 item 6), by its manager.

The export IS a register backup (store/backup.py, ``gp-optout-backup/1``): the practice
is read from the server in one snapshot with its chain verified (store/server/export.py),
written into a new register file in a private scratch folder (store/from_server.py), that
file checked against the snapshot, backed up by the ordinary backup (verified after writing)
and the scratch folder deleted. So the one format restores into either engine by the paths
that already check it fully: ``gp-optout restore`` into a register file, and
``gp-optout migrate-to-server --from-backup`` into an empty server practice (a tampered
file or a wrong password is refused there, before anything is written).

The file's manager is the exporting login, with the password given (the one they sign in
with); the practice's other users are added with passwords nobody is told (a manager resets
them after a restore into a file, as after adding a user). The server's chain is archived
in the file (store/from_server.py) and its verified head is in the file's signed entry
``register.from_server``; the export itself is recorded in the server's chain
(``register.export``, with that head and the file's content hash).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..domain import ods as ods_mod, roles
from ..domain.errors import ValidationError
from ..store import atomic, exclusion_repo, from_server
from ..store import register as register_store
from ..store.errors import StoreError
from ..store.server import export as export_store
from . import backup as backup_service, exclusion_server
from . import users as users_service
from .session import Session


@dataclass
class Report:
    counts: dict
    server_head_seq: int
    manifest: dict
    recovery_key: str  # the export's own recovery key (shown once; opens it without the password)
    signing_key_carried: bool = False  # the exclusion file's signing key is in the export


def _practice_details(snap: export_store.PracticeSnapshot) -> tuple[dict, str]:
    practice = json.loads(snap.meta.get("practice", "null")) or {}
    ods = json.loads(snap.meta["ods"]) if "ods" in snap.meta else practice.get("ods", "")
    try:
        return practice, ods_mod.validate(ods or "")
    except ValidationError:
        raise StoreError("The practice on the server has no valid ODS code in its settings, so it cannot be "
                         "exported to a register. Nothing was written.") from None


def _fill(file: Session, snap: export_store.PracticeSnapshot, audit_key: bytes, seed: bytes | None,
          retired=()) -> None:
    """The snapshot into the new register. Users through the users service (their key slots and
    certificates); every other row in ONE transaction closed by the manager's signed baseline
    entry ``register.from_server`` (permission 'create', as the register's creation: it signs
    every table's digest as filled, since no single role's permission may write them all, e.g.
    the practice-wide opt-out's history is a GP's)."""
    for name, role, active, _at, _by in snap.tables["users"]:
        if name == file.user:
            continue
        users_service.add(file, name, role)  # a temporary password nobody is told: reset after a restore
        if not active:
            users_service.remove(file, name)
    t, reg = snap.tables, file.register
    with reg.transaction() as conn:
        from_server.insert_patients(conn, snap.patients)
        from_server.insert_events(conn, snap.events)
        from_server.insert_letters(conn, t["letters"], t["signposts"])
        from_server.insert_policy(conn, t["policy"])
        from_server.insert_templates(conn, t["letter_templates"])
        from_server.insert_code_tables(conn, t["code_tables"])
        from_server.insert_registration(conn, t["registration"])
        from_server.insert_practice_codes(conn, t["practice_codes"])
        from_server.insert_reconciliations(conn, t["reconciliations"])
        from_server.put_settings(conn, snap.meta)
        from_server.raise_revision(conn, snap.revision + 1)
        if seed is not None:  # the same signing key: the clinical system's public key keeps verifying
            exclusion_repo.store_signing_key(conn, seed, reg.manager_key, reg.keys.register_id)
        record = from_server.archive_chain(conn, snap.audit, audit_key, {
            "practice_ref": snap.practice_ref, "server_revision": snap.revision,
            "server_head": {"seq": snap.head.seq, "mac": snap.head.mac}, "counts": snap.counts,
            "signing_key_carried": seed is not None}, snap.moved_from_file, retired=retired,
            epoch_seqs=snap.epoch_seqs)
        register_store.sign_baseline(reg, conn, user=file.user, action="register.from_server",
                                     detail=json.dumps(record, sort_keys=True, separators=(",", ":")))
    reg.remember_audit_head()


def check(file: Session, snap: export_store.PracticeSnapshot) -> list[str]:
    """The new register read back against the server's snapshot: counts per table, every
    patient's details, every current state, the archived server chain, the file's own trail."""
    problems = []
    with file.read("backup") as conn:
        counts = from_server.counts(conn)
        for table in from_server.COUNTED:
            if counts[table] != snap.counts[table]:
                problems.append(f"{table}: {snap.counts[table]} on the server, {counts[table]} in the export.")
        from ..store import patients as patients_store

        ids = [p.patient_id for p, _at, _by in snap.patients]
        found = patients_store.get_many(conn, ids) if ids else {}
        if any(found.get(p.patient_id) != p for p, _at, _by in snap.patients):
            problems.append("a patient's details differ in the export.")
        if from_server.current_states(conn) != [(pid, kind, active, from_server.day(since), eid) for pid, kind, active, since, eid
                     in snap.current_state]:
            problems.append("a patient's current state differs in the export.")
        problems += from_server.verify_archive(conn, from_server.signed_record(conn))
    result = file.register.verify_audit()
    if not result.ok:
        problems.append(f"the export's own audit trail does not verify: {result.problem}")
    return problems


def export(session, out: Path, password: str, progress: Callable[[str], None] | None = None) -> Report:
    """Export the server practice ``session`` (a ServerSession of its practice manager) to
    ``out``, openable with ``password`` by that manager (their login names them in it).
    ``progress(words)`` is told each stage as it starts (the Backups screen shows them)."""
    step = progress or (lambda _words: None)
    out = Path(out)
    if getattr(session, "on_server", False) is not True:
        raise ValidationError("This is the server register's export; a register file is backed up with "
                              "gp-optout backup.", "database")
    session.require("backup")  # practice managers only; a refusal is audited on the server
    if not out.parent.is_dir():
        raise ValidationError(f"The folder {out.parent} does not exist. Nothing was written.", "out")
    if out.exists():
        raise ValidationError(f"{out.name} already exists: choose a new file name. Nothing was written.", "out")
    step("Reading the practice from the server in one snapshot and verifying its audit trail…")
    snap = export_store.read_practice(session.desk)
    if not snap.verification.ok:
        raise StoreError("The practice's audit trail on the server does not verify, so it cannot be exported: "
                         f"{snap.verification.problem} Nothing was written.")
    if snap.moved_problems:
        raise StoreError("The register file's trail archived on the server when the practice moved there does not "
                         f"re-check, so it cannot be exported: {snap.moved_problems[0]} Nothing was written.")
    if snap.head is None:
        raise StoreError("The practice on the server has no audit trail yet: there is nothing to export.")
    practice, ods = _practice_details(snap)
    seed = exclusion_server.seed_if_held(session)
    scratch = Path(tempfile.mkdtemp(prefix=".gp-optout-export-", dir=out.parent))
    try:
        atomic.make_private_dir(scratch)
        reg, recovery = register_store.create(scratch / "register", first_user=session.user, password=password,
                                              ods=ods, practice=practice, role=roles.MANAGER)
        file = Session(reg, session.user, roles.MANAGER)
        try:
            step(f"Writing {snap.counts['patients']} patients into the encrypted export…")
            _fill(file, snap, session.desk.keys.audit_key, seed, session.desk.keys.retired_audit_keys)
            step("Checking the export against the server's snapshot…")
            problems = check(file, snap)
            if problems:
                raise StoreError(f"The export does not match the server: {problems[0]} Nothing was written.")
            step(f"Writing {out.name} and checking it after writing…")
            change = backup_service.backup(file, out)
        finally:
            if file.register.is_open:
                file.lock()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    manifest = change.data
    with session.write("backup", changes_register=False) as tx:
        tx.audit("register.export", detail=json.dumps(
            {"file": out.name, "server_head": snap.head.seq, "counts": snap.counts,
             "db_sha256": manifest["db_sha256"]}, sort_keys=True, separators=(",", ":")))
    return Report(snap.counts, snap.head.seq, manifest, recovery, seed is not None)
