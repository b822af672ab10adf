"""Import the objections already coded in the practice's clinical system (practice manager).

All or nothing, in one transaction: every row is checked first (domain.import_rows), then
each patient is matched by NHS number (a different date of birth under the same number is
refused: it is not the same person) or added, and each coded event not already in their
history is added. The events are already coded in the clinical system (that is where they
came from), so they are marked coded, and no letters are queued: the practice answered them
when they were first made. The latest event still decides each patient's status.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ..domain.events import IMPORTED, Event
from ..domain.import_rows import ImportRefused, ImportRow, Problem, read_rows
from .changes import ChangeSet
from .session import Session


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
    rows = read_rows(text, session.codes, session.today())
    with session.read_store("import_objections") as register:
        return _plan(register, rows, write=None)


def import_objections(session: Session, text: str) -> ChangeSet:
    rows = read_rows(text, session.codes, session.today())
    with session.write("import_objections") as ctx:
        plan = _plan(ctx.store, rows, write=(ctx, session))
        ctx.audit("import.objections", detail=f"rows={plan.rows} patients_new={plan.patients_new} "
                                              f"events_new={plan.events_new} events_known={plan.events_known} "
                                              f"case_folded={len(plan.case_folded_rows)}")
    summary = (f"Imported {plan.describe(done=True)} No letters were queued: these were answered when first "
               "recorded. Export the exclusion file so the clinical system sees the register.")
    return ChangeSet(summary, ctx.revision, areas=frozenset({"patients", "export"}), data={"plan": plan})


def _plan(register, rows: list[ImportRow], write) -> ImportPlan:
    """Match, de-duplicate and (when ``write`` is the transaction's (context, session)) write, through
    either engine's store (store/backend.py RegisterStore). The known patients and their histories
    are read in one go and the rows written in one go (on the server: a few statements per table,
    not a dozen round trips per row), after every row has been checked."""
    by_nhs: dict[str, list[ImportRow]] = {}
    for row in rows:
        by_nhs.setdefault(row.patient.nhs_number, []).append(row)
    known = register.patients_by_numbers(list(by_nhs))
    histories = register.histories(sorted(p.patient_id for p in known.values()))
    problems: list[Problem] = []
    work: list[tuple] = []  # (existing Patient or None, first row, fresh rows, history)
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
        history = histories[existing.patient_id] if existing else []
        seen = {(e.kind, e.action, e.effective) for e in history}
        fresh = []
        for row in sorted(group, key=lambda r: (r.effective, r.row)):
            key = (row.kind, row.action, row.effective)
            if key in seen:
                known_events += 1
            else:
                seen.add(key)
                fresh.append(row)
        new_events += len(fresh)
        if existing is None:
            new_patients += 1
        else:
            known_patients += 1
        work.append((existing, first, fresh, history))
    if problems:
        raise ImportRefused(f"{len(problems):,} row{'s' if len(problems) != 1 else ''} cannot be imported, so "
                            "nothing was imported. Correct the file and try again.",
                            tuple(sorted(problems, key=lambda p: p.row)))
    if write is not None:
        _write(register, write, work)
    folded = tuple(sorted(r.row for r in rows if r.case_folded))
    return ImportPlan(len(rows), new_patients, known_patients, new_events, known_events, folded)


def _write(register, write, work: list[tuple]) -> None:
    """Every patient and coded event of the plan in one call to the store, then the audit entries
    in the order they always had: each new patient, then each of their events."""
    ctx, session = write  # the write's context (either engine) and its session
    by, at = session.user, session.now()
    items = []
    for existing, first, fresh, history in work:
        # received = the clinical system's date the code was added (Event.added_on for imports), never today.
        events = [Event(kind=row.kind, action=row.action, effective=row.effective, received=row.added,
                        via=IMPORTED, recorded_by=by, recorded_at=at) for row in fresh]
        items.append((existing, first.patient, events, history))
    # Coded (it came from the clinical system's own export) and confirmed (the code is there).
    written = register.import_coded(items, by=by, at=at)
    for (existing, first, fresh, _history), (patient_id, _event_ids) in zip(work, written):
        patient = existing or replace(first.patient, patient_id=patient_id)
        ref = register.audit_ref(patient)
        if existing is None:
            ctx.audit("patient.create", ref, detail=f"import row={first.row}")
        for row in fresh:
            ctx.audit(f"{row.kind}.{row.action}", ref, detail=f"import row={row.row}")
