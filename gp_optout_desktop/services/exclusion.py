"""The exclusion file from the register: export, status, the practice-wide opt-out, include-me.

Export = one consistent read of the register (rows, revision, mode, audit head), the
atomic writer (which re-reads what it wrote), a reconciliation of the count against an
independent SQL count, and an audit row with the count and hash. The register's Ed25519
signing key is created on first use and kept only inside the encrypted register.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..domain import codes
from ..domain import practice_policy as policy
from ..domain.events import INCLUDE
from ..domain.exclusion_rules import EXCLUDE_ALL_EXCEPT_LISTED, EXCLUDE_LISTED, ExclusionRow
from ..exclusion import signing
from ..exclusion.errors import ExportError
from ..exclusion.cohort import read_cohort
from ..exclusion.format import format_ts, serialise_national
from ..exclusion.fsutil import replace_file_atomically
from ..exclusion.writer import DEFAULT_VALIDITY, ExportResult, write_export
from ..letters.model import PRACTICE_WIDE_NOTICE
from .. import child_task
from ..store import exclusion_repo as repo
from ..store import meta
from ..store import policy as policy_store
from ..store import readers
from ..store.backend import FileStore
from . import coding, exclusion_server, objections, patients
from .on_server import on_server
from .changes import ChangeSet
from .session import Session, table_in_force


# ---- the signing key -----------------------------------------------------------------------

def _manager_key(session: Session) -> tuple[bytes, str]:
    """The signing key is wrapped under the manager key, which only practice managers'
    slots hold (docs/adr/0006-threat-model-and-key-hierarchy.md)."""
    reg = session.register
    if reg.manager_key is None:
        raise ExportError("Your key slot does not hold the manager key, which protects the exclusion file's signing "
                          "key: ask the practice manager who holds it to reset your password (that gives it to you).")
    return reg.manager_key, reg.keys.register_id


def _signing_key(session: Session) -> Ed25519PrivateKey:
    """The register's key, created (and audited) the first time it is needed."""
    if on_server(session):
        return exclusion_server.signing_key(session)
    with session.read("export") as conn:
        raw = repo.signing_key(conn, *_manager_key(session))
    if raw is not None:
        return signing.private_key_from_bytes(raw)
    key = signing.generate_private_key()
    with session.write("export", changes_register=False) as ctx:
        existing = repo.signing_key(ctx.conn, *_manager_key(session))
        if existing is not None:  # created meanwhile: keep the first
            ctx.audit("export.signing_key_read")
            return signing.private_key_from_bytes(existing)
        repo.store_signing_key(ctx.conn, signing.private_key_bytes(key), *_manager_key(session))
        ctx.audit("export.signing_key_created", detail=f"key_id={signing.key_id(key)}")
    return key


def public_key_pem(session: Session) -> tuple[bytes, str]:
    """The PEM public key to install once on the consuming system, and its key id."""
    key = _signing_key(session)
    return signing.public_key_pem(key), signing.key_id(key)


def export_public_key(session: Session, out: Path) -> ChangeSet:
    pem, kid = public_key_pem(session)
    out = Path(out)
    replace_file_atomically(out, pem)
    with session.write("export", changes_register=False) as ctx:
        ctx.audit("export.public_key", detail=f"key_id={kid}")
    return ChangeSet(f"Public key {kid} written to {out}. Install it once on the system that reads the exclusion file.",
                     areas=frozenset({"export"}), data={"key_id": kid})


def replace_signing_key(session: Session) -> ChangeSet:
    """A new key pair (e.g. the private key may have leaked with a copied register). The
    consuming system then refuses every new exclusion file until the new public key is
    installed there: it fails closed, so nothing is extracted in the meantime. The register
    revision moves on, so the last export shows as out of date."""
    session.require("export")
    if on_server(session):
        return exclusion_server.replace_signing_key(session)
    old = _signing_key(session)
    key = signing.generate_private_key()
    with session.write("export") as ctx:
        repo.store_signing_key(ctx.conn, signing.private_key_bytes(key), *_manager_key(session))
        ctx.audit("export.signing_key_replaced", detail=f"old_key_id={signing.key_id(old)} "
                                                        f"new_key_id={signing.key_id(key)}")
    summary = (f"New signing key {signing.key_id(key)} (was {signing.key_id(old)}). Export the public key and install "
               "it on the system that reads the exclusion file, then export the exclusion file: until then that "
               "system refuses new files (it fails closed, so nothing is extracted).")
    return ChangeSet(summary, ctx.revision, areas=frozenset({"export"}),
                     data={"key_id": signing.key_id(key), "old_key_id": signing.key_id(old)})


# ---- rows -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Snapshot:
    revision: int
    ods: str
    mode: str
    rows: list[ExclusionRow]
    expected_count: int
    without_nhs: int
    audit_head: str


def _mode(conn, today: date) -> str:
    return EXCLUDE_ALL_EXCEPT_LISTED if policy.is_on(policy_store.history(conn), as_of=today) else EXCLUDE_LISTED


def _days(texts) -> dict[str, date]:
    """Each distinct ISO date parsed once: a few thousand dates over ~100,000 rows."""
    return {text: date.fromisoformat(text) for text in set(texts)}


def _rows(store, mode: str, table: codes.CodeTable) -> tuple[list[ExclusionRow], int, int]:
    """(rows, expected count from an independent SQL count, objectors without an NHS number),
    from either engine's store (store/backend.py RegisterStore).

    The expected count comes from a separate COUNT over current_state, so a patient dropped
    while assembling rows in Python (the SystmOne failure: recorded but never sent) stops the export."""
    if mode == EXCLUDE_LISTED:
        # Type 1 only (format version 2): Type 2 never controlled extraction from the practice.
        snomed = table.lookup(codes.TYPE1, codes.REGISTER).snomed
        found = store.exclusion_objectors()
        day = _days(since for _pid, nhs, _kind, since in found if nhs is not None)
        rows = [ExclusionRow(nhs, snomed, day[since]) for _pid, nhs, _kind, since in found if nhs is not None]
        unknown = {pid for pid, nhs, _kind, _since in found if nhs is None}
        return rows, store.count_type1_objectors() - len(unknown), len(unknown)
    withdrawn = table.lookup(codes.TYPE1, codes.WITHDRAW).snomed
    found = store.exclusion_includers()
    day = _days(since for _pid, nhs, since in found if nhs is not None)
    rows = [ExclusionRow(nhs, withdrawn, day[since]) for _pid, nhs, since in found if nhs is not None]
    # Unlisted includers are simply not extracted in this mode (the safe side): nothing to warn about.
    return rows, store.count_includers() - (len(found) - len(rows)), 0


def snapshot(session: Session) -> Snapshot:
    """One consistent read through the engine seam, apart from the desk's own connection: the
    same rows from a register file and from a server practice (ADR 0015)."""
    with session.apart_store("export") as store:  # one snapshot; the register's connection stays free
        return _snapshot_of(store, session.today())


def _snapshot_of(store, today: date) -> Snapshot:
    revision = store.revision()
    mode = EXCLUDE_ALL_EXCEPT_LISTED if policy.is_on(store.policy_history(), as_of=today) else EXCLUDE_LISTED
    rows, expected, without = _rows(store, mode, table_in_force(store.saved_code_table()))
    head = store.audit_head()
    ods = store.practice_details().get("ods", "")
    if store.revision() != revision:
        raise ExportError("The register changed while the export was being prepared: export again.")
    return Snapshot(revision, ods, mode, rows, expected, without, f"{head[0]}:{head[1]}" if head else "0:genesis")


# ---- export -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Written:
    """What the app needs of an export read and written apart: no rows."""
    revision: int
    mode: str
    expected_count: int
    without_nhs: int
    result: ExportResult


def _write(snap: Snapshot, key: Ed25519PrivateKey, out_dir: Path, generated_at: datetime,
           valid_for: timedelta) -> _Written:
    result = write_export(
        out_dir, snap.rows, private_key=key, practice_ods=snap.ods, register_revision=snap.revision,
        mode=snap.mode, audit_chain_head=snap.audit_head, generated_at=generated_at, valid_for=valid_for,
        objectors_without_nhs_number=snap.without_nhs, expected_count=snap.expected_count,
    )
    return _Written(snap.revision, snap.mode, snap.expected_count, snap.without_nhs, result)


def _write_apart(db_path: Path, data_key: bytes, seed: bytes, out_dir: Path, today: date, generated_at: datetime,
                 valid_for: timedelta) -> _Written:
    """The rows read from one snapshot of a register file and the set written (sorted, signed,
    fsynced, re-read): in a process of its own in the desktop app (child_task), because this
    is Python work on every row, which on a worker thread holds the GIL; a worker descheduled
    while holding it (a busy PC) left the UI thread asleep for 100-250 ms (issue 13, ADR 0014
    addendum 3). Writes the export folder, never the register."""
    with _collector_paused():
        reader = readers.Reader(db_path, data_key)
        try:
            with reader.snapshot() as conn:
                snap = _snapshot_of(FileStore(conn), today)
        finally:
            reader.close()
        return _write(snap, signing.private_key_from_bytes(seed), out_dir, generated_at, valid_for)


@contextmanager
def _collector_paused():
    """No automatic cyclic collection while ~300,000 rows, tuples and strings are built and
    checked (none cyclic): each full collection rewalked all made so far, 60 ms of an export at
    1M (issue 13). As consult._gc_paused; in the app the worker's task_running pauses it too."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _read_and_write(session: Session, key: Ed25519PrivateKey, out_dir: Path, valid_for: timedelta) -> _Written:
    if on_server(session):  # a server practice's snapshot cannot cross to another process
        return _write(snapshot(session), key, out_dir, session.now(), valid_for)
    reg = session.register
    return child_task.run(_write_apart, reg.db.path, reg.data_key, signing.private_key_bytes(key), out_dir,
                          session.today(), session.now(), valid_for, what="the export", refusals=(ExportError,))


def export(session: Session, out_dir: Path, *, valid_for: timedelta = DEFAULT_VALIDITY) -> ChangeSet:
    """Write the exclusion set; raise ExportError (audited; the previous set stays current) on failure."""
    session.require("export")
    key = _signing_key(session)
    out_dir = Path(out_dir)
    try:
        written = _read_and_write(session, key, out_dir, valid_for)
    except (ExportError, child_task.ChildTaskFailed) as exc:
        if isinstance(exc, child_task.ChildTaskFailed):  # it may have ended after the commit point: say so
            exc = ExportError("The export's process ended or failed before it finished. The folder may or may not "
                              "hold the new exclusion file, and the register has not recorded it: export again.")
        with session.write("export", changes_register=False) as ctx:
            ctx.audit("exclusion.export", outcome="failed", detail=str(exc)[:300])
        raise exc from None
    result = written.result
    if result.row_count != written.expected_count:  # the writer checks too; a second look costs nothing
        raise ExportError(f"The export holds {result.row_count} rows but the register counts {written.expected_count}.")
    record = {
        "at": format_ts(result.manifest.generated_at),
        "by": session.user,
        "directory": str(out_dir.resolve()),
        "generation": result.generation.name,
        "rows": result.row_count,
        "sha256": result.list_sha256,
        "revision": written.revision,
        "mode": written.mode,
        "valid_until": format_ts(result.manifest.valid_until),
        "without_nhs": written.without_nhs,
        "key_id": result.manifest.signing_key_id,
    }
    detail = f"rows={result.row_count} sha256={result.list_sha256} revision={written.revision} mode={written.mode}"
    if on_server(session):
        exclusion_server.record_export(session, record, detail)
    else:
        with session.write("export", changes_register=False) as ctx:
            repo.record_export(ctx.conn, record)
            ctx.audit("exclusion.export", detail=detail)
        # Outside the register too: the audit head (truncation check) and the revision the
        # consumer has now seen (a later restore must carry on above it).
        session.register.remember_audit_head()
    warnings = ()
    if written.without_nhs:
        warnings = (f"{written.without_nhs} objecting patient(s) have no NHS number recorded and cannot be in the file: "
                    "make sure their objection is coded in the clinical system.",)
    summary = (f"Exclusion file written to {out_dir}: {result.row_count} patient(s) listed, mode {written.mode}, "
               f"register revision {written.revision}, valid until {format_ts(result.manifest.valid_until)}.")
    return ChangeSet(summary, written.revision, areas=frozenset({"export"}), warnings=warnings,
                     data={"result": result, "record": record})


# ---- the national-check file, from a cohort --------------------------------------------------

def national_check(session: Session, cohort_path: Path, out_path: Path) -> ChangeSet:
    """From the cohort the practice is about to disclose, the NHS numbers to send to the Check for
    National Data Opt-outs service: every patient the register says must not leave the practice
    (an active Type 1 objection; under the practice-wide opt-out everyone not asking to be
    included) taken out. Audited with counts only."""
    session.require("export")
    cohort = read_cohort(Path(cohort_path))
    snap = snapshot(session)
    listed = {r.nhs_number for r in snap.rows}
    if snap.mode == EXCLUDE_LISTED:
        keep = [n for n in cohort if n not in listed]
    else:
        keep = [n for n in cohort if n in listed]
    out_path = Path(out_path)
    replace_file_atomically(out_path, serialise_national(keep))
    removed = len(cohort) - len(keep)
    with session.write("export", changes_register=False) as ctx:
        ctx.audit("exclusion.national_check", detail=f"cohort={len(cohort)} removed={removed} written={len(keep)} "
                                                      f"revision={snap.revision} mode={snap.mode}")
    why = ("Type 1 objectors" if snap.mode == EXCLUDE_LISTED
           else "patients not asking to be included (the practice-wide opt-out is on)")
    summary = (f"National-check file written to {out_path}: {len(keep):,} of {len(cohort):,} NHS numbers in the "
               f"cohort; {removed:,} taken out ({why}). Send it to the Check for National Data Opt-outs service and "
               "disclose only the numbers it returns.")
    warnings = ()
    if snap.without_nhs:
        warnings = (f"{snap.without_nhs} objecting patient(s) have no NHS number recorded and cannot be matched "
                    "against the cohort: check the cohort by hand for them.",)
    return ChangeSet(summary, snap.revision, areas=frozenset({"export"}), warnings=warnings,
                     data={"cohort": len(cohort), "removed": removed, "written": len(keep)})


@dataclass(frozen=True)
class ExportStatus:
    last: dict | None
    revision: int
    mode_now: str

    @property
    def out_of_date(self) -> bool:
        return self.last is None or self.last["revision"] != self.revision or self.last["mode"] != self.mode_now

    def expired(self, now: datetime) -> bool:
        return self.last is not None and format_ts(now) >= self.last["valid_until"]

    def describe(self, now: datetime) -> list[str]:
        if self.last is None:
            return ["The exclusion file has never been exported from this register."]
        last = self.last
        lines = [f"Last exported {last['at']} by {last['by']} to {last['directory']}: {last['rows']} patient(s), "
                 f"mode {last['mode']}, register revision {last['revision']}, valid until {last['valid_until']}."]
        if self.out_of_date:
            lines.append(f"OUT OF DATE: the register has changed since (now revision {self.revision}). Export again.")
        elif self.expired(now):
            lines.append("EXPIRED: the consuming system will refuse it. Export again.")
        else:
            lines.append("Up to date: no change since the last export.")
        return lines


def awaits_export(status: ExportStatus, history) -> bool:
    """Whether something recorded for this patient (or the practice-wide mode) changed after
    the last export, so the exclusion file (which the practice's own extracts read) does not
    show it yet.

    The export record keeps whole seconds: a change in the export's own second may be in the
    file or not, so it counts as waiting (never claim a change is in the file when it may not
    be), unless the register has not changed at all since the export (same revision)."""
    if status.last is None or status.last["mode"] != status.mode_now:
        return True
    if status.last["revision"] == status.revision:
        return False
    return any(format_ts(e.recorded_at) >= status.last["at"] for e in history)


def export_status(session: Session) -> ExportStatus:
    if on_server(session):
        return exclusion_server.export_status(session)
    with session.read("search") as conn:
        return ExportStatus(repo.last_export(conn), meta.revision(conn), _mode(conn, session.today()))


# ---- practice-wide opt-out and include-me -----------------------------------------------------

@dataclass(frozen=True)
class PolicyStatus:
    on: bool
    latest: policy.PolicyChange | None
    history: list[policy.PolicyChange]

    def describe(self) -> str:
        if self.latest is None:
            return "The practice-wide opt-out has never been turned on."
        c = self.latest
        word = "ON: nobody's data is extracted except patients who asked to be included" if self.on else "off"
        return f"The practice-wide opt-out is {word} (since {c.effective.isoformat()}, set by {c.recorded_by}: {c.reason})."


def practice_optout_status(session: Session) -> PolicyStatus:
    """On either engine (store/backend.py): a desk on a server register shows it too."""
    with session.read_store("search") as store:
        history = store.policy_history()
    today = session.today()
    return PolicyStatus(policy.is_on(history, as_of=today), policy.current_policy(history, as_of=today), history)


def set_practice_optout(session: Session, state: str, reason: str, effective: date | None = None) -> ChangeSet:
    """GP only; the caller has shown policy.NHSE_POSITION and had it confirmed. Individual
    objections are separate events and are never touched by this setting."""
    effective = effective or session.today()
    with session.write("practice_optout") as ctx:  # either engine (store/backend.py)
        store = ctx.store
        history = store.policy_history()
        policy.check_change(state, reason, effective, session.today(), history)
        change = policy.PolicyChange(state=state, effective=effective, reason=reason.strip(),
                                     recorded_by=session.user, recorded_at=session.now())
        policy_id = store.insert_policy(change)
        # National extractions read the code in each record, not this setting: list the codes.
        listed = coding.on_policy_change(ctx, state, policy_id, effective, change.recorded_at)
        # A notice still waiting would tell patients about an opt-out that has been lifted.
        cancelled = store.cancel_unsent(PRACTICE_WIDE_NOTICE) if state == policy.OFF else 0
        ctx.audit(f"practice_optout.{state}", detail=f"policy={policy_id} effective={effective.isoformat()}"
                                                    + (f" notices_cancelled={cancelled}" if cancelled else ""))
    summary = (f"Practice-wide opt-out turned {state} from {effective.isoformat()}. "
               "Export the exclusion file again so the clinical system sees the change.")
    summary += (f" Coding worklist: {listed:,} practice-wide code{'s' if listed != 1 else ''} to "
                f"{'add' if state == policy.ON else 'remove'} in the clinical system"
                + (" (patients who object individually keep theirs)." if state == policy.OFF else
                   " (patients who asked to be included are left out)."))
    if cancelled:
        summary += (f" {cancelled:,} practice-wide opt-out notice{'s' if cancelled != 1 else ''} not yet "
                    f"printed {'were' if cancelled != 1 else 'was'} taken off the letters queue.")
    return ChangeSet(summary, ctx.revision, areas=frozenset({"policy", "export", "letters", "coding"}),
                     data={"coding_listed": listed})


def opt_in(session: Session, nhs: str, *, via: str = "desk", effective: date | None = None,
           received: date | None = None) -> ChangeSet:
    """A patient asks to be included while (or before) the practice-wide opt-out is in force."""
    patient = patients.by_nhs(session, nhs)
    change = objections.record(session, patient.patient_id, INCLUDE, codes.REGISTER, effective=effective,
                               received=received, via=via)
    if not practice_optout_status(session).on:
        change = ChangeSet(change.summary, change.revision, change.patient_ids, change.event_ids, change.letter_ids,
                           change.areas | {"export"},
                           change.warnings + ("The practice-wide opt-out is off, so this request changes nothing "
                                              "until it is turned on.",), change.data)
    return change


def status(session: Session) -> str:
    """One line for the main window's status bar."""
    s = export_status(session)
    if s.last is None:
        return "Exclusion file: never exported"
    if s.out_of_date:
        return f"Exclusion file: OUT OF DATE (last written {s.last['at']}; the register has changed since)"
    if s.expired(session.now()):
        return f"Exclusion file: EXPIRED at {s.last['valid_until']}: export again"
    return f"Exclusion file: up to date ({s.last['rows']:,} listed, written {s.last['at']})"
