"""Import the objections already coded in the practice's clinical system (practice manager).

All or nothing, in one transaction: every row is checked first (domain.import_rows), then
each patient is matched by NHS number (a different date of birth under the same number is
refused: it is not the same person) or added, and each coded event not already in their
history is added. The events are already coded in the clinical system (that is where they
came from), so they are marked coded, and no letters are queued: the practice answered them
when they were first made. The latest event still decides each patient's status.

In the desktop app, on a register file, every row is read and checked and matched against
one read snapshot of the register in a process of its own (child_task, ADR 0014 addendum 5):
that is Python work on every row, which on a worker thread held the GIL the UI thread waits
for. The child writes nothing; its compact answer (ids, audit names and tuples, never a
known patient's record) is written here, on the one write path, in one transaction with its
audit entries, if the register is still at the snapshot's revision. On a server practice, on
the command line, or when no process can be started, the same steps run here, inside the write.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ..domain.events import EVENT_KINDS, IMPORTED, Event, current_status
from .. import child_task
from ..domain.import_rows import ImportRefused, ImportRow, Problem, read_rows
from ..store import events as events_store, readers
from ..store.backend import FileStore
from .changes import ChangeSet
from .on_server import on_server
from .session import Session, table_in_force

PERMISSION = "import_objections"
ATTEMPTS = 2  # plans made apart that may be overtaken by another write; then the plan is made inside the write


@dataclass(frozen=True)
class ImportPlan:
    rows: int
    patients_new: int
    patients_known: int
    events_new: int
    events_known: int  # already in the register: skipped, so importing twice changes nothing
    case_folded_rows: tuple[int, ...] = ()  # rows whose code matched only by ignoring letter case

    def describe(self, done: bool) -> str:
        def n(count: int, word: str) -> str:
            return f"{count:,} {word}{'s' if count != 1 else ''}"

        if done:
            text = (f"{n(self.rows, 'row')}: {n(self.patients_new, 'new patient')} added, {self.patients_known:,} "
                    f"already in the register; {n(self.events_new, 'coded event')} added, {self.events_known:,} "
                    "already recorded (skipped).")
        else:
            text = (f"{n(self.rows, 'row')}: {n(self.patients_new, 'new patient')}, {self.patients_known:,} already in "
                    f"the register; {n(self.events_new, 'new coded event')}, {self.events_known:,} already recorded "
                    "(they would be skipped).")
        return text + self.case_note()

    def case_note(self) -> str:
        """CTV3 codes differ by letter case (XaZ8a is not XaZ8A): say so when only ignoring case matched."""
        rows = self.case_folded_rows
        if not rows:
            return ""
        shown = ", ".join(str(r) for r in rows[:20]) + (f" and {len(rows) - 20:,} more" if len(rows) > 20 else "")
        return (f" {len(rows):,} row{'s' if len(rows) != 1 else ''} ({shown}) matched a code in the table only by "
                "ignoring letter case; CTV3 codes differ by case and the table's case for the withdrawn codes is "
                "unconfirmed (verify): check the code in the clinical system.")


def read_csv_file(path: Path) -> str:
    """The file's text (a byte-order mark from Windows tools dropped), or a refusal in words."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused(f"{path.name} is not UTF-8 text: export it again as UTF-8 CSV. Nothing was imported.") from None
    except OSError as exc:
        raise ImportRefused(f"{path.name} cannot be read ({exc.strerror or exc.__class__.__name__}). "
                            "Nothing was imported.") from None


def check(session: Session, text: str) -> ImportPlan:
    """What importing ``text`` would do, with nothing written (the dry run)."""
    session.require(PERMISSION)  # before a child reads the register for this user
    planned = _planned_apart(session, text)
    if planned is not None:
        return planned.plan
    rows = read_rows(text, session.codes, session.today())
    with session.read_store(PERMISSION) as register:
        return _match(register, rows)[0]


def import_objections(session: Session, text: str) -> ChangeSet:
    session.require(PERMISSION)
    for _attempt in range(ATTEMPTS):
        planned = _planned_apart(session, text)
        if planned is None:
            break
        try:
            return _write_planned(session, planned)
        except _Changed:
            continue  # why: rolled back with nothing written: plan again on the newer register
    rows = read_rows(text, session.codes, session.today())
    with session.write(PERMISSION) as ctx:
        plan, work = _match(ctx.store, rows)
        _write(ctx.store, (ctx, session), work)
        _audit_run(ctx, plan)
    return _change(plan, ctx.revision)


@dataclass(frozen=True)
class _Planned:
    """A plan made apart: the snapshot's revision, the plan, and the work to write (``_match``'s
    compact items: of each known patient's history only its newest event of each kind)."""
    revision: int
    plan: ImportPlan
    work: list[tuple]


class _Changed(Exception):
    """The register's revision moved on since the plan's snapshot."""


def _planned_apart(session: Session, text: str) -> _Planned | None:
    """The plan from a process of its own; None when it is to be made here instead (a server
    practice, whose snapshot cannot cross to another process; child processes off, as on the
    command line; or no process could be started)."""
    if on_server(session):
        return None
    reg = session.register
    return child_task.run(_plan_apart, reg.db.path, reg.data_key, text, session.today(),
                          what="the import's reading of the file", here=_plan_here)


def _plan_here(*_args) -> None:
    return None


def _plan_apart(db_path: Path, data_key: bytes, text: str, today) -> _Planned:
    """Every row read and checked against the code table in force, then matched, in one read
    snapshot of a register file on a read-only connection of its own (in the child). Writes
    nothing; refusals raise ImportRefused (row numbers, never a patient)."""
    reader = readers.Reader(db_path, data_key)
    try:
        with reader.snapshot() as conn:
            register = FileStore(conn)
            rows = read_rows(text, table_in_force(register.saved_code_table()), today)
            plan, work = _match(register, rows, histories=False)
            return _Planned(register.revision(), plan, work)
    finally:
        reader.close()


def _write_planned(session: Session, planned: _Planned) -> ChangeSet:
    """The one write of a plan made apart: raises _Changed (rolled back, nothing written) if the
    register moved on since its snapshot (the file lets one writer in at a time, so it cannot
    move after this check)."""
    with session.write(PERMISSION) as ctx:
        if ctx.store.hold_revision() != planned.revision:
            raise _Changed
        _write(ctx.store, (ctx, session), planned.work)
        _audit_run(ctx, planned.plan)
    return _change(planned.plan, ctx.revision)


def _audit_run(ctx, plan: ImportPlan) -> None:
    ctx.audit("import.objections", detail=f"rows={plan.rows} patients_new={plan.patients_new} "
                                          f"events_new={plan.events_new} events_known={plan.events_known} "
                                          f"case_folded={len(plan.case_folded_rows)}")


def _change(plan: ImportPlan, revision: int) -> ChangeSet:
    summary = (f"Imported {plan.describe(done=True)} No letters were queued: these were answered when first "
               "recorded. Export the exclusion file so the clinical system sees the register.")
    return ChangeSet(summary, revision, areas=frozenset({"patients", "export"}), data={"plan": plan})


def _match(register, rows: list[ImportRow], histories: bool = True) -> tuple[ImportPlan, list[tuple]]:
    """Match and de-duplicate, through either engine's store (store/backend.py RegisterStore);
    refuses (ImportRefused) a date of birth that differs under one NHS number. The known patients
    and their histories are read in one go (on the server: a few statements, not a dozen round
    trips per row). Returns the plan and the work for ``_write``, one item per patient:
    (known patient's id or None, the new Patient or None, the known patient's audit name or None,
    the first row's number, the fresh events as (kind, action, effective, added, row number),
    the known patient's history, or when ``histories`` is False only its newest event of each
    kind: all the state after the import depends on, a few tuples to send from the child)."""
    by_nhs: dict[str, list[ImportRow]] = {}
    for row in rows:
        by_nhs.setdefault(row.patient.nhs_number, []).append(row)
    known = register.patients_by_numbers(list(by_nhs))
    found = register.histories(sorted(p.patient_id for p in known.values()))
    problems: list[Problem] = []
    work: list[tuple] = []
    new_patients = known_patients = new_events = known_events = 0
    for nhs, group in by_nhs.items():
        first = group[0]
        clash = next((r for r in group[1:] if r.patient.dob != first.patient.dob), None)
        if clash:
            problems.append(Problem(clash.row, f"the same NHS number as row {first.row} with another date of birth"))
            continue
        existing = known.get(nhs)
        if existing is not None and existing.dob != first.patient.dob:
            problems.append(Problem(first.row, "the register has this NHS number with another date of birth: "
                                               "check which is right before importing"))
            continue
        history = found[existing.patient_id] if existing else []
        seen = {(e.kind, e.action, e.effective) for e in history}
        fresh = []
        for row in sorted(group, key=lambda r: (r.effective, r.row)):
            key = (row.kind, row.action, row.effective)
            if key in seen:
                known_events += 1
            else:
                seen.add(key)
                fresh.append((row.kind, row.action, row.effective, row.added, row.row))
        new_events += len(fresh)
        if existing is None:
            new_patients += 1
            work.append((None, first.patient, None, first.row, tuple(fresh), ()))
        else:
            known_patients += 1
            work.append((existing.patient_id, None, register.audit_ref(existing), first.row, tuple(fresh),
                         history if histories else _newest(history)))
    if problems:
        raise ImportRefused(f"{len(problems):,} row{'s' if len(problems) != 1 else ''} cannot be imported, so "
                            "nothing was imported. Correct the file and try again.",
                            tuple(sorted(problems, key=lambda p: p.row)))
    folded = tuple(sorted(r.row for r in rows if r.case_folded))
    return ImportPlan(len(rows), new_patients, known_patients, new_events, known_events, folded), work


def _newest(history) -> tuple:
    """The newest event of each kind in ``history`` (events.Ordered): what decides a state, with
    any events added after it (latest wins: domain.events.current_status)."""
    latest = (current_status(history, kind).event for kind in EVENT_KINDS)
    return tuple(events_store.Ordered(e.kind, e.action, e.effective, e.seq, e.event_id)
                 for e in latest if e is not None)


def _write(register, write, work: list[tuple]) -> None:
    """Every patient and coded event of the plan in one call to the store, then the audit entries
    in the order they always had: each new patient, then each of their events."""
    ctx, session = write  # the write's context (either engine) and its session
    by, at = session.user, session.now()
    items = []
    for patient_id, new, _ref, _first, fresh, history in work:
        # received = the clinical system's date the code was added (Event.added_on for imports), never today.
        events = [Event(kind=kind, action=action, effective=effective, received=added, via=IMPORTED,
                        recorded_by=by, recorded_at=at) for kind, action, effective, added, _row in fresh]
        items.append((patient_id, new, events, history))
    # Coded (it came from the clinical system's own export) and confirmed (the code is there).
    written = register.import_coded(items, by=by, at=at)
    for (known_id, new, ref, first, fresh, _history), (patient_id, _event_ids) in zip(work, written):
        if known_id is None:
            ref = register.audit_ref(replace(new, patient_id=patient_id))
            ctx.audit("patient.create", ref, detail=f"import row={first}")
        for kind, action, _effective, _added, row in fresh:
            ctx.audit(f"{kind}.{action}", ref, detail=f"import row={row}")
