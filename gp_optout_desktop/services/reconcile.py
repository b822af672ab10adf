"""Reconciliation: the register against the clinical system's own search export of the Type 1
and Type 2 codes (the columns the import reads). The only thing that confirms an event is coded.

For each patient and objection type the register's expected state (latest event wins, and for
Type 1 the practice-wide code as GPs applied it) is compared with the export's latest code:

(a) in the register, not in the clinical system: NOT CODED (the TPP failure);
(b) in the clinical system, not in the register: coded directly or arrived by GP2GP (one-step
    import through services/importer);
(c) in both, but the latest state differs;
(d) agreeing: the register's events whose code the export shows become confirmed, by this run.

Every input row lands in exactly one of (b), (c), (d); the counts are checked before anything is
written. Bad input meets the import's standards: every row checked first, problems by row
number, no patient data in messages, nothing changed on refusal.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from ..domain import coding as rules
from ..domain.codes import SHORT_LABELS, TYPE1, TYPE2
from ..domain.errors import ValidationError
from ..domain.import_rows import DELIMITERS, ImportRefused, ImportRow, read_rows, sniff_delimiter
from ..domain.reconciliation import (AGREE, CATEGORY_WORDS, DIFFER, NOT_CODED, NOT_IN_REGISTER, Item, RegisterPair,
                                     compare, identity_problems)
from ..domain.nhs_number import display as nhs_display
from .. import child_task
from ..store import atomic, coding as store, readers
from ..store.backend import FileStore
from . import importer
from .coding import _on, _target, target_of
from .changes import ChangeSet
from .on_server import on_server
from .session import Session, table_in_force

ENCODINGS = {"utf-8": "UTF-8", "cp1252": "Windows-1252"}
REPORT_COLUMNS = ("category", "meaning", "reason", "nhs_number", "surname", "forenames", "date_of_birth", "type",
                  "register", "clinical_system", "export_rows", "register_refs")


LATE_TYPE2_WORDS = "a Type 2 code added to the record after the Type 2 cut-off: never processed nationally, not compared"


class ReconcileRefused(ImportRefused):
    """The export cannot be reconciled: nothing was changed (``problems`` by row number)."""


@dataclass
class Result:
    run_id: int
    source: str
    encoding: str
    delimiter: str
    rows: int
    items: list[Item]
    confirmed: int
    missing_rows: list[ImportRow] = field(default_factory=list)  # (b): what the one-step import brings in
    notes: list[str] = field(default_factory=list)
    not_coded_oldest: date | None = None
    target_days: int = rules.DEFAULT_TARGET_WORKING_DAYS
    today: date | None = None
    late_type2: list[int] = field(default_factory=list)  # line numbers: Type 2 coded after the cut-off
    type2_cutoff: date | None = None

    _tally: dict | None = field(default=None, repr=False, compare=False)

    def _tallied(self) -> dict:
        """Items and rows per group, counted once (on the worker, when the run is recorded):
        counted again for each group on the UI thread, 214,000 items took 0.4 s (issue 13)."""
        if self._tally is None:
            tally: dict[str, list[int]] = {}
            for i in self.items:
                entry = tally.setdefault(i.category, [0, 0])
                entry[0] += 1
                entry[1] += len(i.rows)
            self._tally = tally
        return self._tally

    def count(self, category: str) -> int:
        return self._tallied().get(category, (0, 0))[0]

    def rows_in(self, category: str) -> int:
        return self._tallied().get(category, (0, 0))[1]

    @property
    def not_coded_overdue(self) -> bool:
        return (self.not_coded_oldest is not None and self.today is not None
                and rules.add_working_days(self.not_coded_oldest, self.target_days) < self.today)

    def describe(self) -> str:
        def n(count: int, word: str) -> str:
            return f"{count:,} {word}{'' if count == 1 else 's'}"

        c = {k: self.count(k) for k in CATEGORY_WORDS}
        rb, rc, rd = self.rows_in(NOT_IN_REGISTER), self.rows_in(DIFFER), self.rows_in(AGREE)
        lines = [f"Reconciliation {self.run_id}: {n(self.rows, 'row')} read from {self.source} "
                 f"({ENCODINGS.get(self.encoding, self.encoding)}, {DELIMITERS.get(self.delimiter, self.delimiter)}"
                 "-separated)."]
        lines += self.notes
        a = f"(a) {c[NOT_CODED]:,} not coded in the clinical system"
        if not c[NOT_CODED]:
            lines.append(a + ".")
        elif self.not_coded_overdue:
            lines.append(a + f", the oldest past the coding target of {self.target_days} working days: key them "
                             "now (they are on the coding worklist).")
        else:
            lines.append(a + ": they are on the coding worklist.")
        lines.append(f"(b) {c[NOT_IN_REGISTER]:,} in the clinical system but not in the register ({n(rb, 'row')})"
                     + (": import them in one step." if rb else "."))
        lines.append(f"(c) {c[DIFFER]:,} where the latest state differs ({n(rc, 'row')})"
                     + (": check each." if rc else "."))
        lines.append(f"(d) {c[AGREE]:,} agreeing ({n(rd, 'row')}); {n(self.confirmed, 'code')} newly confirmed "
                     "by this run.")
        late = len(self.late_type2)
        if late:
            shown = ", ".join(map(str, self.late_type2[:20])) + (f" and {late - 20:,} more" if late > 20 else "")
            lines.append(f"(e) {n(late, 'row')} ({shown}) with a Type 2 objection added to the record after "
                         f"{self.type2_cutoff:%d %b %Y}: never processed nationally, so not compared and not brought "
                         "in. Send each patient the 'Type 2 recorded in error' letter from their record (it signposts "
                         "the National Data Opt-out).")
            lines.append(f"Every row accounted for: {rb:,} + {rc:,} + {rd:,} + {late:,} = {self.rows:,}.")
        else:
            lines.append(f"Every row accounted for: {rb:,} + {rc:,} + {rd:,} = {self.rows:,}.")
        return "\n".join(lines)


# ---- reading the export -----------------------------------------------------------------------

def read_export(path: Path, encoding: str | None = None) -> tuple[str, str]:
    """(text, encoding). Valid UTF-8 is UTF-8; anything else is refused with the way to say it is
    Windows-1252, never guessed (a wrong guess would turn names into nonsense silently)."""
    path = Path(path)
    if encoding is not None and encoding not in ENCODINGS:
        raise ReconcileRefused(f"Unknown encoding '{encoding}': use utf-8 or cp1252 (Windows-1252).")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReconcileRefused(f"{path.name} cannot be read ({exc.strerror or exc.__class__.__name__}). "
                               "Nothing was changed.") from None
    if encoding in (None, "utf-8"):
        try:
            return data.decode("utf-8-sig"), "utf-8"
        except UnicodeDecodeError as exc:
            line = data[:exc.start].count(b"\n") + 1
            raise ReconcileRefused(
                f"{path.name} is not UTF-8 text (first at line {line}). Exports from Windows programs are often "
                "Windows-1252: if so, reconcile again choosing Windows-1252 (command line: --encoding cp1252), or "
                "export the file again as UTF-8. Nothing was changed.") from None
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ReconcileRefused(f"{path.name} is not Windows-1252 text either (line {line} has a byte that "
                               "encoding does not use). Export it again as UTF-8. Nothing was changed.") from None


# ---- the register's side ------------------------------------------------------------------

def _register_pairs(register, today: date) -> dict[tuple[int, str], RegisterPair]:
    """The register's side of every patient and objection type with something to compare, from
    either engine's store (store/backend.py RegisterStore)."""
    pairs: dict[tuple[int, str], RegisterPair] = {}
    for patient_id, event_id, kind, action, _eff, recorded_at, confirmed in register.coded_events():
        pair = pairs.get((patient_id, kind))
        if pair is None:
            pair = pairs[(patient_id, kind)] = RegisterPair(patient_id, kind)
        pair.events.append((event_id, action, bool(confirmed), rules.uk_day(recorded_at)))
    for patient_id, kind, active in register.current_objections():
        if (patient_id, kind) in pairs:
            pairs[(patient_id, kind)].active = bool(active)
    for row_id, patient_id, op, _eff, queued_at, confirmed, opted_in, objects in register.practice_latest(False):
        pw = rules.practice_wide(op, bool(confirmed), bool(opted_in), bool(objects))
        if pw.expect is None:
            continue
        pair = pairs.get((patient_id, TYPE1))
        if pair is None:
            pair = pairs[(patient_id, TYPE1)] = RegisterPair(patient_id, TYPE1)
        pair.pw, pair.pw_row = pw, (row_id, op, bool(confirmed), rules.uk_day(queued_at))
    if _on(register.policy_history(), today) is not None:
        # Patients with no practice-wide row while it is on are asked for the add (coding.build).
        for patient_id, created_at in register.practice_newcomers(with_patient=False):
            pair = pairs.get((patient_id, TYPE1))
            if pair is None:
                pair = pairs[(patient_id, TYPE1)] = RegisterPair(patient_id, TYPE1)
            pair.pw, pair.pw_row = rules.PracticeWide(rules.ADD, True), (None, None, False,
                                                                         rules.uk_day(created_at))
    return pairs


ATTEMPTS = 3  # a register changed while it was compared: compare again, at most this many times


@dataclass
class _Plan:
    """What the comparison found in one read snapshot, before anything is written."""
    revision: int  # the register's revision in the snapshot: the write goes ahead only on the same one
    encoding: str
    delimiter: str
    rows: int
    late: list[int]
    notes: list[str]
    found: object  # domain.reconciliation.Comparison
    type2_cutoff: date | None


def _plan(db_path: Path, data_key: bytes, path: Path, encoding: str | None, today: date) -> _Plan:
    """Read the export, check every row and compare it with one read snapshot of the register,
    on a read-only connection of its own (in a process of its own in the desktop app:
    child_task). Writes nothing. Refusals raise ReconcileRefused (row numbers, no patient data)."""
    text, used = read_export(path, encoding)
    delimiter = sniff_delimiter(text)
    reader = readers.Reader(db_path, data_key)
    try:
        with reader.snapshot() as conn:
            return _compare_snapshot(FileStore(conn), text, used, delimiter, today)
    finally:
        reader.close()


def _plan_on_server(session, path: Path, encoding: str | None, today: date) -> _Plan:
    """_plan on a server register: the comparison in one read-only snapshot on the desk's
    searches' connection (ServerSession.apart_store), never inside the window's write; the
    identities are decrypted on this desk (the server holds ciphertext)."""
    text, used = read_export(path, encoding)
    delimiter = sniff_delimiter(text)
    with session.apart_store("reconcile") as register:
        return _compare_snapshot(register, text, used, delimiter, today)


def _compare_snapshot(register, text: str, used: str, delimiter: str, today: date) -> _Plan:
    codes = table_in_force(register.saved_code_table())
    late: list[int] = []  # a clinical system may well hold late Type 2 codes: reported, not a refusal
    try:
        rows = read_rows(text, codes, today, delimiter, late_type2=late)
    except ImportRefused as exc:
        # The import's checks, worded for this task: nothing is imported here, nothing changes.
        message = str(exc).replace("Nothing was imported", "Nothing was changed").replace(
            "cannot be imported, so nothing was imported", "cannot be reconciled, so nothing was changed")
        raise ReconcileRefused(message, exc.problems) from None
    notes = []
    if delimiter != ",":
        notes.append(f"The file is {DELIMITERS[delimiter]}-separated; it was read that way.")
    if used == "cp1252":
        notes.append("The file was read as Windows-1252, as asked.")
    folded = [r.row for r in rows if r.case_folded]
    if folded:  # the import's own warning: CTV3 codes differ by letter case
        shown = ", ".join(map(str, folded[:20])) + (f" and {len(folded) - 20:,} more" if len(folded) > 20 else "")
        notes.append(f"{len(folded):,} row{'s' if len(folded) != 1 else ''} ({shown}) matched a code only by "
                     "ignoring letter case (CTV3 codes differ by case; the withdrawn codes' case is unconfirmed): "
                     "check the code in the clinical system.")
    revision = register.revision()
    by_nhs = register.patients_by_nhs()
    problems = identity_problems(rows, by_nhs)
    if problems:
        raise ReconcileRefused(f"{len(problems):,} row{'s' if len(problems) != 1 else ''} cannot be reconciled, "
                               "so nothing was changed. Correct the file or the register and try again.",
                               tuple(problems))
    pairs = _register_pairs(register, today)
    found = compare(rows, pairs, by_nhs, register.patient_rows, register.inactive_patients())
    if found.left_practice:
        notes.append(f"{found.left_practice:,} objection{'s' if found.left_practice != 1 else ''} of patients who "
                     "have left the practice, died or been merged are not in the export; they are not counted "
                     "as not coded.")
    accounted = sum(len(i.rows) for i in found.items if i.category in (NOT_IN_REGISTER, DIFFER, AGREE))
    if accounted != len(rows):  # a bug, never a data problem: refuse rather than record wrong counts
        raise ReconcileRefused(f"The reconciliation lost rows ({accounted:,} of {len(rows):,} accounted for): "
                               "nothing was changed. Please report this.")
    return _Plan(revision, used, delimiter, len(rows), late, notes, found, codes.type2_cutoff)


def reconcile(session: Session, path: Path, encoding: str | None = None) -> Result:
    """Read, check every row, compare, and (in one short transaction) confirm the agreeing events
    and record the run. Practice manager. Refusals raise ReconcileRefused with nothing changed.

    The reading and comparing is done on a read snapshot (in a process of its own in the
    desktop app), holding nothing the desk needs; the write then goes ahead only if the
    register's revision is still the snapshot's, else the comparison is done again (at most
    three times, then refused in words: nothing half-written)."""
    path = Path(path)
    session.require("reconcile")
    if encoding is not None and encoding not in ENCODINGS:
        raise ReconcileRefused(f"Unknown encoding '{encoding}': use utf-8 or cp1252 (Windows-1252).")
    for _attempt in range(ATTEMPTS):
        if on_server(session):
            plan = _plan_on_server(session, path, encoding, session.today())
        else:
            reg = session.register
            plan = child_task.run(_plan, reg.db.path, reg.data_key, path, encoding, session.today(),
                                  what="the reconciliation's comparison")
        result = _record(session, path, plan)
        if result is not None:
            return result
    raise ReconcileRefused(f"The register changed while the export was being compared, {ATTEMPTS} times running "
                           "(someone was recording or importing meanwhile). Nothing was changed. Reconcile again "
                           "when the desk is quieter.")


def _record(session: Session, path: Path, plan: _Plan) -> Result | None:
    """The one write: confirmations, the run and its audit row, in one short transaction; None
    (nothing written) if the register changed since the plan's snapshot."""
    try:
        return _write(session, path, plan)
    except _Changed:
        return None


class _Changed(Exception):
    """The register's revision moved on since the plan's snapshot."""


def _write(session: Session, path: Path, plan: _Plan) -> Result:
    found, late = plan.found, plan.late
    now = session.now()
    with session.write("reconcile") as ctx:
        register = ctx.store  # either engine (store/backend.py)
        if register.hold_revision() != plan.revision:
            raise _Changed  # rolled back before anything is written
        run_id = register.next_run_id()
        by = f"reconciliation {run_id}"
        items, confirm_events, confirm_pw, recorded, missing, oldest = (
            found.items, found.confirm_events, found.confirm_practice, found.record_practice, found.missing,
            found.not_coded_oldest)
        result = Result(run_id, path.name, plan.encoding, plan.delimiter, plan.rows + len(late), items, 0, missing,
                        list(plan.notes), oldest, target_of(register.coding_target()), session.today(), late,
                        plan.type2_cutoff)
        confirmed = register.confirm_events(confirm_events, by=by, at=now)
        confirmed += register.confirm_practice_codes(confirm_pw, by=by, at=now)
        latest_policy = register.latest_policy_id()
        for patient_id, op in recorded:
            register.insert_practice_code(patient_id, latest_policy, op, session.today(), now, by)
        confirmed += len(recorded)
        result.confirmed = confirmed
        register.insert_run({
            "at": now.isoformat(), "run_by": session.user, "source": path.name, "encoding": plan.encoding,
            "delimiter": DELIMITERS[plan.delimiter], "rows": plan.rows, "not_coded": result.count(NOT_CODED),
            "not_in_register": result.count(NOT_IN_REGISTER), "differ": result.count(DIFFER),
            "agree": result.count(AGREE), "rows_not_in_register": result.rows_in(NOT_IN_REGISTER),
            "rows_differ": result.rows_in(DIFFER), "rows_agree": result.rows_in(AGREE), "confirmed": confirmed,
            "not_coded_oldest": oldest.isoformat() if oldest else None})
        # One audit row for the run: the events it confirmed carry its name (confirmed_by), and the
        # row holds a digest of exactly which, so the chain proves them without 15,000 rows.
        ctx.audit("reconcile.run", detail=(
            f"run={run_id} rows={plan.rows} a={result.count(NOT_CODED)} b={result.count(NOT_IN_REGISTER)} "
            f"c={result.count(DIFFER)} d={result.count(AGREE)} confirmed={confirmed} e={len(late)} "
            f"sha256={confirmed_digest(confirm_events, confirm_pw, recorded)}"))
    return result


def confirmed_digest(event_ids, practice_rows, recorded=()) -> str:
    """SHA-256 over what one run confirmed: E<event id>, P<practice code row id>, and
    <op>:<patient id> for the practice-wide rows it recorded as confirmed."""
    text = "\n".join([f"E{i}" for i in sorted(event_ids)] + [f"P{i}" for i in sorted(practice_rows)]
                     + [f"{op}:{pid}" for pid, op in sorted(recorded)])
    return hashlib.sha256(text.encode("ascii")).hexdigest()


# ---- output -----------------------------------------------------------------------------------

def report_csv(result: Result) -> str:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(REPORT_COLUMNS)
    for i in result.items:
        writer.writerow([i.category, CATEGORY_WORDS[i.category], i.reason, nhs_display(i.nhs) if i.nhs else "",
                         i.surname, i.forenames, i.dob.strftime("%d/%m/%Y") if i.dob else "",
                         SHORT_LABELS[i.kind], i.register, i.clinical, " ".join(map(str, i.rows)), " ".join(i.refs)])
    for line in result.late_type2:  # named by row only: the row was not checked against the register
        writer.writerow(["e", LATE_TYPE2_WORDS, "send the 'Type 2 recorded in error' letter", "", "",
                         "", "", SHORT_LABELS[TYPE2], "", "Type 2 objection added after the cut-off", line, ""])
    return out.getvalue()


def write_report(session: Session, result: Result, out: Path) -> Path:
    """The report names patients: writing it is audited (the run and the row count), and a
    failed write leaves no audit row and no half-written file."""
    with session.write("reconcile", changes_register=False) as ctx:
        ctx.audit("reconcile.report", detail=f"run={result.run_id} rows={len(result.items)}")
        atomic.write_bytes(Path(out), report_csv(result).encode("utf-8-sig"))
    return Path(out)


_IMPORT_HEADER = ("NHS number", "Title", "Surname", "Forenames", "Date of birth", "Address line 1", "Address line 2",
                  "Address line 3", "Postcode", "Code", "Code date", "Date added")


def missing_as_import_csv(result: Result, codes) -> str:
    """The (b) rows in the import's own shape, so the one-step import is the ordinary import."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(_IMPORT_HEADER)
    for r in result.missing_rows:
        p = r.patient
        address = list(p.address) + ["", "", ""]
        writer.writerow([p.nhs_number, p.title, p.surname, p.forenames, p.dob.isoformat(), *address[:3], p.postcode,
                         codes.lookup(r.kind, r.action).snomed, r.effective.isoformat(), r.added.isoformat()])
    return out.getvalue()


def import_missing(session: Session, result: Result) -> ChangeSet:
    """(b) in one step: the ordinary import (all rows or none; the events come in confirmed)."""
    if not result.missing_rows:
        raise ValidationError("Nothing to import: every code in the export is already in the register.", "reconcile")
    return importer.import_objections(session, missing_as_import_csv(result, session.codes))


# ---- the last run, for the overview ---------------------------------------------------------

@dataclass(frozen=True)
class LastRun:
    run_id: int
    at: str
    rows: int
    not_coded: int
    not_in_register: int
    differ: int
    agree: int
    not_coded_oldest: date | None
    overdue: bool  # (a) holds something older than the coding target

    def describe(self) -> str:
        return (f"Last reconciliation {rules.uk_day(self.at):%d/%m/%Y} ({self.rows:,} rows): {self.not_coded:,} not coded, "
                f"{self.not_in_register:,} not in the register, {self.differ:,} differing, {self.agree:,} agreeing.")


def last_run(conn, today: date) -> LastRun | None:
    return summarise_run(store.last_run(conn), _target(conn), today)


def summarise_run(row: dict | None, target: int, today: date) -> LastRun | None:
    """The last run as the overview shows it, from its stored row (either engine's store)."""
    if row is None:
        return None
    oldest = date.fromisoformat(row["not_coded_oldest"]) if row["not_coded_oldest"] else None
    overdue = oldest is not None and rules.add_working_days(oldest, target) < today
    return LastRun(row["id"], row["at"], row["rows"], row["not_coded"], row["not_in_register"], row["differ"],
                   row["agree"], oldest, overdue)


def last_run_for(session: Session) -> LastRun | None:
    """On either engine (store/backend.py)."""
    with session.read_store("view_coding") as register:
        return summarise_run(register.last_reconciliation(), target_of(register.coding_target()), session.today())
