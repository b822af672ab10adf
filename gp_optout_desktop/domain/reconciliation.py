"""Reconciliation's rule: the register's expected state against the clinical system's export,
per patient and objection type (ADR 0009). Pure: the register's side comes in as RegisterPair
objects read by services/reconcile.py.

(a) in the register, not in the clinical system: NOT CODED (the TPP failure);
(b) in the clinical system, not in the register (coded directly, or arrived by GP2GP);
(c) in both, but the latest state differs;
(d) agreeing: the register's unconfirmed events whose action the export shows are confirmed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Callable

from . import coding as rules
from .codes import REGISTER, SHORT_LABELS, TYPE1
from .import_rows import ImportRow, Problem

NOT_CODED, NOT_IN_REGISTER, DIFFER, AGREE = "a", "b", "c", "d"
CATEGORY_WORDS = {
    NOT_CODED: "in the register, not in the clinical system (NOT CODED)",
    NOT_IN_REGISTER: "in the clinical system, not in the register",
    DIFFER: "in both, but the latest state differs",
    AGREE: "agreeing (confirmed)",
}


@dataclass(slots=True)
class Item:
    category: str
    reason: str
    kind: str
    nhs: str | None
    surname: str
    forenames: str
    dob: date | None
    register: str  # the register's expected state in words ("" when not in the register)
    clinical: str  # the export's latest state in words ("" when not in the export)
    rows: tuple[int, ...] = ()  # the export's line numbers
    refs: tuple[str, ...] = ()  # E<event id> / P<practice code id>


@dataclass
class RegisterPair:
    """The register's side for one patient and one objection type."""

    patient_id: int
    kind: str
    active: bool = False  # the individual latest event is an objection
    events: list = field(default_factory=list)  # (event id, action, confirmed, recorded day)
    pw: rules.PracticeWide | None = None
    pw_row: tuple | None = None  # (row id, op, confirmed, queued day)

    @property
    def expect(self) -> bool:
        return self.active or (self.pw is not None and self.pw.expect is True)

    @property
    def refs(self) -> tuple[str, ...]:
        refs = tuple(f"E{e[0]}" for e in self.events)
        if not (self.pw_row and self.pw and self.pw.expect is not None):
            return refs
        return refs + ((f"P{self.pw_row[0]}",) if self.pw_row[0] is not None else (f"N{self.patient_id}",))

    def words(self) -> str:
        if self.kind == TYPE1 and self.pw is not None and self.pw.expect is not None and not self.active:
            return "practice-wide code" if self.pw.expect else "practice-wide code removed"
        return "objecting" if self.active else "not objecting (withdrawn)"

    def unconfirmed_since(self) -> date | None:
        days = [e[3] for e in self.events if not e[2]]
        if self.pw is not None and self.pw.task is not None:
            days.append(self.pw_row[3])
        return min(days) if days else None


def _latest(rows: list[ImportRow]) -> ImportRow:
    return max(rows, key=lambda r: (r.effective, r.row))


def _export_words(rows: list[ImportRow]) -> str:
    last = _latest(rows)
    state = "objecting" if last.action == REGISTER else "not objecting (withdrawn)"
    return f"{state}, latest code dated {last.effective.strftime('%d/%m/%Y')}"


@dataclass
class Comparison:
    items: list[Item]
    confirm_events: list[int]  # unconfirmed events the export shows, in agreeing pairs
    confirm_practice: list[int]  # practice-wide rows to confirm
    record_practice: list[tuple[int, str]]  # (patient id, op): practice-wide rows to record, confirmed
    missing: list[ImportRow]  # (b): what the one-step import brings in
    not_coded_oldest: date | None  # the oldest day a code in (a) has been waiting
    left_practice: int = 0  # register-only pairs of patients who left, died or were merged: not (a)


def identity_problems(rows: list[ImportRow], by_nhs: dict[str, tuple[int, str]]) -> list[Problem]:
    """One NHS number must be one person: in the file, and against the register (by_nhs: NHS
    number -> (patient id, ISO date of birth))."""
    problems: list[Problem] = []
    first_dob: dict[str, ImportRow] = {}
    for row in rows:
        nhs = row.patient.nhs_number
        seen = first_dob.setdefault(nhs, row)
        if seen.patient.dob != row.patient.dob:
            problems.append(Problem(row.row, f"the same NHS number as row {seen.row} with another date of birth"))
        known = by_nhs.get(nhs)
        if known is not None and date.fromisoformat(known[1]) != row.patient.dob and seen is row:
            problems.append(Problem(row.row, "the register has this NHS number with another date of birth: check "
                                             "which is right before reconciling"))
    return sorted(problems, key=lambda p: p.row)


def compare(rows: list[ImportRow], pairs: dict[tuple[int, str], RegisterPair], by_nhs: dict[str, tuple[int, str]],
            people_of: Callable[[list[int]], dict[int, tuple]], inactive: set[int] | frozenset = frozenset()
            ) -> Comparison:
    """Every row into exactly one of (b), (c), (d); every register pair not in the file into (a)
    or, for a practice-wide removal the file no longer shows, (d). ``people_of(patient ids)``
    gives (nhs, title, forenames, surname, ISO dob) for the register-only pairs' report lines.
    ``inactive``: patients who left, died or were merged; their records are no longer the
    practice's to code, so when the export does not show them they are counted, not (a)."""
    export: dict[tuple[str, str], list[ImportRow]] = {}
    for row in rows:
        export.setdefault((row.patient.nhs_number, row.kind), []).append(row)
    items: list[Item] = []
    confirm_events: list[int] = []
    confirm_pw: list[int] = []
    record_codes: list[tuple[int, str]] = []  # (patient id, op): confirmed rows to record
    missing: list[ImportRow] = []
    matched: set[tuple[int, str]] = set()
    for (nhs, kind), group in export.items():
        p = group[0].patient
        pid = by_nhs.get(nhs, (None,))[0]
        pair = pairs.get((pid, kind)) if pid is not None else None
        lines = tuple(sorted(r.row for r in group))
        clinical = _export_words(group)
        if pair is None:
            why = "patient not in the register" if pid is None else f"no {SHORT_LABELS[kind]} event in the register"
            items.append(Item(NOT_IN_REGISTER, why + ": coded directly or arrived by GP2GP", kind, nhs, p.surname,
                              p.forenames, p.dob, "", clinical, lines))
            missing.extend(group)
            continue
        matched.add((pid, kind))
        shows = _latest(group).action == REGISTER
        if shows != pair.expect:
            if pair.pw is not None and pair.pw.task == rules.REMOVE and shows:
                why = "the practice-wide code is still in the record: remove it"
            elif pair.expect:
                why = "the register says objecting; the clinical system's latest code is a withdrawal"
            else:
                why = "the register says not objecting; the clinical system's latest code is an objection"
            items.append(Item(DIFFER, why, kind, nhs, p.surname, p.forenames, p.dob, pair.words(), clinical, lines,
                              pair.refs))
            continue
        actions = {r.action for r in group}
        fresh = [e[0] for e in pair.events if not e[2] and e[1] in actions]
        confirm_events.extend(fresh)
        _confirm_practice(pair, shows, confirm_pw, record_codes)
        items.append(Item(AGREE, "the latest state agrees", kind, nhs, p.surname, p.forenames, p.dob, pair.words(),
                          clinical, lines, pair.refs))
    unmatched = [pair for key, pair in pairs.items() if key not in matched and pair.patient_id not in inactive]
    left = sum(1 for key, pair in pairs.items() if key not in matched and pair.patient_id in inactive)
    people = people_of(sorted({pair.patient_id for pair in unmatched}))
    oldest: date | None = None
    for pair in unmatched:
        nhs, _title, forenames, surname, dob = people[pair.patient_id]
        if not pair.events and pair.pw is not None and pair.pw.expect is False:
            # A practice-wide removal, and the export shows no code: the removal is done.
            _confirm_practice(pair, False, confirm_pw, record_codes)
            items.append(Item(AGREE, "the practice-wide code is no longer in the record", pair.kind, nhs, surname,
                              forenames, date.fromisoformat(dob), pair.words(), "", (), pair.refs))
            continue
        why = "no NHS number in the register, so it cannot be matched: add it" if nhs is None else (
            f"no {SHORT_LABELS[pair.kind]} code for this patient in the clinical system: key it")
        items.append(Item(NOT_CODED, why, pair.kind, nhs, surname, forenames, date.fromisoformat(dob), pair.words(),
                          "", (), pair.refs))
        since = pair.unconfirmed_since() or min((e[3] for e in pair.events), default=None) or (
            pair.pw_row[3] if pair.pw_row else None)
        if since is not None and (oldest is None or since < oldest):
            oldest = since
    order = {NOT_CODED: 0, DIFFER: 1, NOT_IN_REGISTER: 2, AGREE: 3}
    items.sort(key=lambda i: (order[i.category], i.surname.casefold(), i.forenames.casefold(), i.nhs or "", i.kind))
    return Comparison(items, confirm_events, confirm_pw, record_codes, missing, oldest, left)


def _confirm_practice(pair: RegisterPair, shows: bool, confirm_pw: list, record_codes: list) -> None:
    if pair.pw is None or pair.pw.task is None:
        return
    row_id, op, _confirmed, _day = pair.pw_row
    if pair.pw.task == rules.ADD and shows:
        if row_id is None:  # a patient with no row yet: record the add, confirmed
            record_codes.append((pair.patient_id, rules.ADD))
        else:
            confirm_pw.append(row_id)
    elif pair.pw.task == rules.REMOVE and not shows:
        if op == rules.REMOVE:
            confirm_pw.append(row_id)
        else:  # opted in after a confirmed add: record the removal, confirmed
            record_codes.append((pair.patient_id, rules.REMOVE))


