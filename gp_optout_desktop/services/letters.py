"""Confirmation letters: the queue (one-month deadline), printing batches, marking sent, reprints.

Printing renders and writes the PDF inside the transaction that marks the letters sent:
if rendering or writing fails nothing is marked, so a letter can be printed twice but
never marked sent without a PDF.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Sequence

from ..domain import codes as codes_mod, nhs_number
from ..domain.errors import ValidationError
from ..domain import practice_policy
from ..domain.events import INCLUDE
from ..domain.patient import Patient
from ..letters import render
from ..letters.model import (
    KIND_LABELS, PRACTICE_WIDE_NOTICE, TYPE2_IN_ERROR, LetterItem, LetterRecipient, LetterRequest, PracticeDetails,
)
from ..letters.templates import LetterTemplate
from ..store import events as events_store, letters_repo, meta, patients as patients_store, policy as policy_store
from . import templates as templates_service
from .changes import ChangeSet
from .objections import one_calendar_month_after
from .patients import audit_ref
from .session import Session


@dataclass(frozen=True)
class PendingLetter:
    letter_id: int
    kind: str
    kind_label: str
    patient_id: int
    patient_name: str
    nhs_display: str
    queued_on: date
    due: date
    days_left: int  # negative when overdue

    @property
    def overdue(self) -> bool:
        return self.days_left < 0


def reference(letter_id: int) -> str:
    """Printed on the letter and quoted back by the patient; carries no identifier."""
    return f"L{letter_id:06d}"


def pending(session: Session) -> list[PendingLetter]:
    """Unsent letters, nearest deadline first, with days left (negative: overdue)."""
    today = session.today()
    with session.read("view_letters") as conn:
        rows = letters_repo.pending(conn)
        people = patients_store.get_many(conn, sorted({r.patient_id for r in rows}))
    out = []
    for r in rows:
        p = people[r.patient_id]
        out.append(PendingLetter(r.letter_id, r.kind, KIND_LABELS.get(r.kind, r.kind), r.patient_id, p.display_name,
                                 p.nhs_display, r.queued_at.date(), r.due, (r.due - today).days))
    return out


def practice_details(conn) -> PracticeDetails:
    data = meta.get(conn, "practice", {}) or {}
    return PracticeDetails(name=data.get("name", ""), address=tuple(data.get("address", ())),
                           phone=data.get("phone", ""), email=data.get("email", ""), ods_code=meta.get(conn, "ods", ""))


def _recipient(p: Patient) -> LetterRecipient:
    return LetterRecipient(p.title, p.forenames, p.surname, p.address, p.postcode, p.nhs_number, p.dob)


def _item(person: Patient, kind: str, action: str, effective: date, table: codes_mod.CodeTable) -> LetterItem:
    name = " ".join(part for part in (person.forenames, person.surname) if part)
    if kind == INCLUDE:
        # Coded in practice as Type 1 withdrawn (the patient opted back in); withdrawing it has no code.
        code = table.lookup(codes_mod.TYPE1, codes_mod.WITHDRAW) if action == codes_mod.REGISTER else None
    else:
        code = table.lookup(kind, action)
    return LetterItem(name, person.nhs_number, person.dob, kind, action, effective,
                      code.snomed if code else "", code.read_v2 if code else "", code.ctv3 if code else "")


def _notice_policy(history: Sequence[practice_policy.PolicyChange], row: letters_repo.LetterRow):
    """The turn-on a practice-wide notice was queued for: the latest 'on' recorded by then."""
    ons = [c for c in history if c.state == practice_policy.ON and c.recorded_at <= row.queued_at]
    if not ons:
        raise ValidationError(f"Letter {reference(row.letter_id)} is a practice-wide notice, but the register has "
                              "no record of the practice-wide opt-out being turned on before it was queued.", "letters")
    return max(ons, key=lambda c: c.seq)


def build_request(conn, row: letters_repo.LetterRow, table: codes_mod.CodeTable, letter_date: date,
                  policy_history: Sequence[practice_policy.PolicyChange] | None = None) -> LetterRequest:
    """Everything one letter says, read from the register (``policy_history`` saves re-reading
    the practice-wide opt-out's history for each notice in a batch)."""
    if row.kind == PRACTICE_WIDE_NOTICE:
        history = policy_store.history(conn) if policy_history is None else policy_history
        return LetterRequest(row.kind, reference(row.letter_id), letter_date,
                             _recipient(patients_store.get(conn, row.patient_id)),
                             policy_effective=_notice_policy(history, row).effective)
    adult = patients_store.get(conn, row.patient_id)
    proxy_name = proxy_role = None
    if row.form_id is not None:
        events = letters_repo.form_events(conn, row.form_id)
        people = patients_store.get_many(conn, sorted({pid for pid, _ in events}))
        items = tuple(_item(people[pid], e.kind, e.action, e.effective, table) for pid, e in events)
        # A proxy acting for the addressee is named; a parent's own form needs no such line.
        own = [e for pid, e in events if pid == row.patient_id and e.proxy is not None]
        if own:
            proxy_name, proxy_role = own[0].proxy.name, own[0].proxy.role
    elif row.kind == TYPE2_IN_ERROR:
        late = [e for e in events_store.history(conn, row.patient_id)
                if e.kind == codes_mod.TYPE2 and e.action == codes_mod.REGISTER and e.effective > table.type2_cutoff]
        items = tuple(_item(adult, e.kind, e.action, e.effective, table) for e in late)
    else:
        items = ()
    return LetterRequest(row.kind, reference(row.letter_id), letter_date, _recipient(adult), items,
                         proxy_name=proxy_name, proxy_role=proxy_role)


def _version_text(t: LetterTemplate) -> str:
    return f"{t.version} sha256:{t.digest[:16]}"


def print_batch(
    session: Session,
    out: Path,
    *,
    split_dir: Path | None = None,
    letter_ids: Sequence[int] | None = None,
    sent_on: date | None = None,
) -> ChangeSet:
    """Print pending letters (all, or ``letter_ids``) into one PDF, optionally also one file each,
    and mark them sent on ``sent_on`` (default today). Manager only; each letter audited."""
    sent_on = sent_on or session.today()
    with session.write("print_letters", changes_register=False) as ctx:
        rows = _unsent(ctx.conn, letter_ids)
        requests, templates = _requests(ctx.conn, session, rows, sent_on)
        result = render.render_batch(requests, practice_details(ctx.conn), out, templates)
        if split_dir is not None:
            render.render_split(requests, practice_details(ctx.conn), split_dir, templates)
        for row, letter in zip(rows, result.letters):
            letters_repo.mark_printed(ctx.conn, row.letter_id, template_version=_version_text(templates[row.kind]),
                                      sent_on=sent_on)
            patient = patients_store.get(ctx.conn, row.patient_id)
            ctx.audit("letter.print", audit_ref(patient),
                      detail=f"letter={row.letter_id} kind={row.kind} template=v{letter.template_version} "
                             f"pages={letter.pages} sent={sent_on.isoformat()}")
    overdue = sum(1 for r in rows if r.due < sent_on)
    summary = f"Printed {len(rows)} letter{'s' if len(rows) != 1 else ''} ({result.pages} pages) and marked them sent."
    if overdue:
        summary += f" {overdue} {'was' if overdue == 1 else 'were'} past the one-month deadline."
    return ChangeSet(summary, ctx.revision, frozenset(r.patient_id for r in rows),
                     letter_ids=tuple(r.letter_id for r in rows), areas=frozenset({"letters"}),
                     data={"path": str(result.path), "split_dir": str(split_dir) if split_dir else None})


def _unsent(conn, letter_ids: Sequence[int] | None) -> list[letters_repo.LetterRow]:
    """The letters ``letter_ids`` (or every one waiting), refused if any was already sent."""
    rows = letters_repo.get_many(conn, list(letter_ids)) if letter_ids else letters_repo.pending(conn)
    already = [r.letter_id for r in rows if r.sent_on is not None]
    if already:
        raise ValidationError(f"Letter {reference(already[0])} was already sent: reprint it instead.", "letters")
    if not rows:
        raise ValidationError("No letters are waiting to be printed.", "letters")
    return rows


PREVIEW_LIMIT = 200  # a 50,000-household notice run would take minutes to render just to look at


@dataclass(frozen=True)
class LetterPreview:
    pdf: bytes
    letters: int  # rendered
    pages: int
    asked: int  # selected, or waiting: more than ``letters`` when capped at PREVIEW_LIMIT


def preview(session: Session, letter_ids: Sequence[int] | None = None) -> LetterPreview:
    """The pages print_batch would produce today for these letters (or the first PREVIEW_LIMIT
    waiting), with nothing marked sent. Bytes, never a file: the pages carry names and
    addresses. Manager only; a read of each patient, so one audit row per letter."""
    with session.write("print_letters", changes_register=False) as ctx:
        rows = _unsent(ctx.conn, letter_ids)
        asked, rows = len(rows), rows[:PREVIEW_LIMIT]
        requests, templates = _requests(ctx.conn, session, rows, session.today())
        data, rendered = render.render_bytes(requests, practice_details(ctx.conn), templates)
        for row in rows:
            ctx.audit("letter.preview", audit_ref(patients_store.get(ctx.conn, row.patient_id)),
                      detail=f"letter={row.letter_id} kind={row.kind}")
    return LetterPreview(data, len(rows), sum(r.pages for r in rendered), asked)


def _requests(conn, session: Session, rows, letter_date: date):
    templates = {kind: templates_service.in_use(conn, kind).template for kind in sorted({r.kind for r in rows})}
    history = policy_store.history(conn) if any(r.kind == PRACTICE_WIDE_NOTICE for r in rows) else ()
    requests = [build_request(conn, r, session.codes, letter_date, history) for r in rows]
    return requests, templates


NOTICE_MIN_AGE = 16  # nobody of 16 or over is anyone's dependant: each is written to


def years_before(day: date, years: int) -> date:
    """The same date ``years`` earlier (29 February becomes the 28th)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def queue_practice_wide_notice(session: Session) -> ChangeSet:
    """Queue the notice that tells patients the practice-wide opt-out is on (the ICO: every
    patient must be told). One letter to each patient aged 16 or over, not one per household
    (that reveals who else is registered at an address, and fails in care homes and shared
    houses); patients already sent a notice since the opt-out was last turned on are skipped,
    so running it again queues only newcomers and those who have turned 16.
    Due one calendar month from today. Manager only; one audit row with the count."""
    today = session.today()
    with session.write("print_letters", changes_register=False) as ctx:
        history = policy_store.history(ctx.conn)
        if not practice_policy.is_on(history, as_of=today):
            raise ValidationError(
                "The practice-wide opt-out is not on, so there is nothing to tell patients. "
                "A GP turns it on first; then queue the notice.", "practice_optout")
        turned_on = practice_policy.current_policy(history, as_of=today)
        due = one_calendar_month_after(today)
        count = letters_repo.queue_patient_notices(ctx.conn, PRACTICE_WIDE_NOTICE, since=turned_on.recorded_at,
                                                   queued_at=session.now(), due=due,
                                                   born_on_or_before=years_before(today, NOTICE_MIN_AGE))
        ctx.audit("letter.queue_practice_wide", detail=f"letters={count} kind={PRACTICE_WIDE_NOTICE} "
                                                       f"policy={turned_on.seq} due={due.isoformat()}")
    if count == 0:
        summary = ("Every patient aged 16 or over has already had a practice-wide opt-out notice queued since it was "
                   "turned on.")
    else:
        summary = (f"Queued {count:,} practice-wide opt-out notice{'s' if count != 1 else ''}, one to each patient "
                   f"aged {NOTICE_MIN_AGE} or over "
                   f"(due by {due.day} {due:%b %Y}). Print them from the letters queue.")
    return ChangeSet(summary, ctx.revision, areas=frozenset({"letters"}), data={"count": count, "due": due.isoformat()})


def mark_sent(session: Session, letter_ids: Sequence[int], on: date) -> ChangeSet:
    """Mark letters sent without printing here (e.g. sent another way); audited per letter."""
    if on > session.today():
        raise ValidationError("The date sent cannot be in the future.", "sent_on")
    with session.write("print_letters", changes_register=False) as ctx:
        rows = letters_repo.get_many(ctx.conn, list(letter_ids))
        for row in rows:
            if letters_repo.mark_sent(ctx.conn, row.letter_id, on) == 0:
                raise ValidationError(f"Letter {reference(row.letter_id)} was already marked sent.", "letters")
            patient = patients_store.get(ctx.conn, row.patient_id)
            ctx.audit("letter.sent", audit_ref(patient), detail=f"letter={row.letter_id} sent={on.isoformat()}")
    return ChangeSet(f"Marked {len(rows)} letter{'s' if len(rows) != 1 else ''} sent on {on.day} {on:%b %Y}.",
                     ctx.revision, frozenset(r.patient_id for r in rows), letter_ids=tuple(letter_ids),
                     areas=frozenset({"letters"}))


def reprint(session: Session, nhs: str, out: Path, *, letter_id: int | None = None) -> ChangeSet:
    """Reprint a patient's latest letter (or ``letter_id``), dated as first sent, same reference."""
    digits = nhs_number.validate(nhs)
    with session.write("print_letters", changes_register=False) as ctx:
        patient = patients_store.by_nhs(ctx.conn, digits)
        rows = letters_repo.for_patient(ctx.conn, patient.patient_id)
        if letter_id is not None:
            rows = [r for r in rows if r.letter_id == letter_id]
        if not rows:
            raise ValidationError("This patient has no letter to reprint.", "letters")
        row = rows[-1]
        letter_date = row.sent_on or session.today()
        requests, templates = _requests(ctx.conn, session, [row], letter_date)
        result = render.render_batch(requests, practice_details(ctx.conn), out, templates)
        letters_repo.mark_printed(ctx.conn, row.letter_id, template_version=_version_text(templates[row.kind]),
                                  sent_on=None)
        ctx.audit("letter.reprint", audit_ref(patient),
                  detail=f"letter={row.letter_id} kind={row.kind} template=v{result.letters[0].template_version}")
    state = "" if row.sent_on else " It has not been marked sent."
    return ChangeSet(f"Reprinted letter {reference(row.letter_id)}.{state}", ctx.revision, frozenset({patient.patient_id}),
                     letter_ids=(row.letter_id,), areas=frozenset({"letters"}), data={"path": str(result.path)})
