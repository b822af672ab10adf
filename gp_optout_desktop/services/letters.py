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
from ..domain.events import INCLUDE
from ..domain.patient import Patient
from ..letters import render
from ..letters.model import (
    KIND_LABELS, TYPE2_IN_ERROR, LetterItem, LetterRecipient, LetterRequest, PracticeDetails,
)
from ..letters.templates import LetterTemplate, load_template
from ..store import events as events_store, letters_repo, meta, patients as patients_store
from .changes import ChangeSet
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


def build_request(conn, row: letters_repo.LetterRow, table: codes_mod.CodeTable, letter_date: date) -> LetterRequest:
    """Everything one letter says, read from the register."""
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
    templates_dir: Path | None = None,
) -> ChangeSet:
    """Print pending letters (all, or ``letter_ids``) into one PDF, optionally also one file each,
    and mark them sent on ``sent_on`` (default today). Manager only; each letter audited."""
    sent_on = sent_on or session.today()
    with session.write("print_letters", changes_register=False) as ctx:
        rows = letters_repo.get_many(ctx.conn, list(letter_ids)) if letter_ids else letters_repo.pending(ctx.conn)
        already = [r.letter_id for r in rows if r.sent_on is not None]
        if already:
            raise ValidationError(f"Letter {reference(already[0])} was already sent: reprint it instead.", "letters")
        if not rows:
            raise ValidationError("No letters are waiting to be printed.", "letters")
        requests, templates = _requests(ctx.conn, session, rows, sent_on, templates_dir)
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
        summary += f" {overdue} were past their one-month deadline."
    return ChangeSet(summary, ctx.revision, frozenset(r.patient_id for r in rows),
                     letter_ids=tuple(r.letter_id for r in rows), areas=frozenset({"letters"}),
                     data={"path": str(result.path), "split_dir": str(split_dir) if split_dir else None})


def _requests(conn, session: Session, rows, letter_date: date, templates_dir: Path | None):
    templates = {kind: load_template(kind, templates_dir) for kind in sorted({r.kind for r in rows})}
    requests = [build_request(conn, r, session.codes, letter_date) for r in rows]
    return requests, templates


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


def reprint(session: Session, nhs: str, out: Path, *, letter_id: int | None = None,
            templates_dir: Path | None = None) -> ChangeSet:
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
        requests, templates = _requests(ctx.conn, session, [row], letter_date, templates_dir)
        result = render.render_batch(requests, practice_details(ctx.conn), out, templates)
        letters_repo.mark_printed(ctx.conn, row.letter_id, template_version=_version_text(templates[row.kind]),
                                  sent_on=None)
        ctx.audit("letter.reprint", audit_ref(patient),
                  detail=f"letter={row.letter_id} kind={row.kind} template=v{result.letters[0].template_version}")
    state = "" if row.sent_on else " It has not been marked sent."
    return ChangeSet(f"Reprinted letter {reference(row.letter_id)}.{state}", ctx.revision, frozenset({patient.patient_id}),
                     letter_ids=(row.letter_id,), areas=frozenset({"letters"}), data={"path": str(result.path)})
