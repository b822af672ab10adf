"""Confirmation letters: the queue (one-month deadline), printing batches, marking sent, reprints.

On either engine (ADR 0015): the queue, printing, marking sent, reprints, the policy-change
mailing and the transfer letter reach rows only through the store (store/backend.py).

Printing plans the letters in one short read, renders and writes the PDF with no
transaction open (in the renderer's own process in the desktop app: letters.apart), then
marks them sent in one short transaction that first checks nothing changed meanwhile.
If rendering or writing fails nothing is marked, so a letter can be printed twice but
never marked sent without a PDF; the desk can open a record or save while it renders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Sequence

from ..domain import codes as codes_mod, nhs_number
from ..domain.errors import ValidationError
from ..domain import practice_policy
from ..domain.events import CONFIRMED, INCLUDE, PENDING, Event
from ..domain.patient import Patient
from ..letters import apart, render
from ..letters.atomic import write_atomic
from ..letters.model import (
    KIND_LABELS, POLICY_CHANGE, PRACTICE_WIDE_NOTICE, RECEIVED_KIND, TYPE2_IN_ERROR, LetterItem,
    LetterRecipient, LetterRequest, PracticeDetails, TRANSFERRED,
)
from ..letters.templates import LetterTemplate
from ..store.backend import FileStore
from ..store.errors import NotFound
from ..store import letters_repo
from . import templates as templates_service
from .changes import ChangeSet
from .objections import one_calendar_month_after
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
    held: bool = False  # a confirmation waiting for its codes to be confirmed in the clinical system

    @property
    def overdue(self) -> bool:
        return self.days_left < 0


@dataclass(frozen=True)
class Plan:
    """What a waiting letter prints as today: the confirmation when every code it lists is
    confirmed in the clinical system, else the acknowledgement. A confirmation queued after
    an acknowledgement is held until then (docs/adr/0010-letters-received-and-in-force.md)."""

    kind: str
    held: bool = False
    moot: bool = False  # a held confirmation whose events were all superseded since: not needed
    events: tuple | None = None  # (patient id, Event) the letter lists; None: the kind lists none


def plan(conn, row: letters_repo.LetterRow) -> Plan:
    return plans(conn, [row])[0]


def plans(conn, rows: Sequence[letters_repo.LetterRow]) -> list[Plan]:
    """plan() for many letters with a few queries (a long queue is classified at each refresh)."""
    return plans_on(FileStore(conn), rows)


def plan_on(store, row: letters_repo.LetterRow) -> Plan:
    """plan() through the engine seam (store/backend.py's RegisterStore), on either engine."""
    return plans_on(store, [row])[0]


def plans_on(store, rows: Sequence[letters_repo.LetterRow]) -> list[Plan]:
    """plans() through the engine seam, on either engine."""
    forms = [r.form_id for r in rows if r.kind in RECEIVED_KIND and r.form_id is not None]
    facts = store.form_facts(forms) if forms else ({}, set(), set())
    return [_plan(row, *facts) for row in rows]


def _plan(row: letters_repo.LetterRow, by_form, current, acked) -> Plan:
    if row.kind not in RECEIVED_KIND or row.form_id is None:
        return Plan(row.kind)
    events = by_form.get(row.form_id, [])
    if (row.form_id, RECEIVED_KIND[row.kind]) in acked:
        # The follow-up confirmation: only what still stands is confirmed.
        events = [(pid, e) for pid, e in events if e.event_id in current]
        if not events:
            return Plan(row.kind, moot=True)
        if all(e.coding_state == CONFIRMED for _, e in events):
            return Plan(row.kind, events=tuple(events))
        return Plan(row.kind, held=True, events=tuple(events))
    if events and all(e.coding_state == CONFIRMED for _, e in events):
        return Plan(row.kind, events=tuple(events))
    return Plan(RECEIVED_KIND[row.kind], events=tuple(events))


def reference(letter_id: int) -> str:
    """Printed on the letter and quoted back by the patient; carries no identifier."""
    return f"L{letter_id:06d}"


def pending(session: Session) -> list[PendingLetter]:
    """Unsent letters, nearest deadline first, with days left (negative: overdue)."""
    return [p for p in _waiting(session) if not p.held]


def pending_and_held(session: Session) -> tuple[list[PendingLetter], list[PendingLetter]]:
    """Both lists from one read: letters to print now, and confirmations held for their codes."""
    rows = _waiting(session)
    return [p for p in rows if not p.held], [p for p in rows if p.held]


def held(session: Session) -> list[PendingLetter]:
    """Confirmations promised in an acknowledgement, waiting for their codes to be confirmed
    in the clinical system (a reconciliation): overdue ones point at coding not done."""
    return [p for p in _waiting(session) if p.held]


def _waiting(session: Session) -> list[PendingLetter]:
    today = session.today()
    with session.read_store("view_letters") as store:  # either engine (ADR 0015)
        rows = store.pending_letters()
        decided = plans_on(store, rows)
        people = store.get_patients(sorted({r.patient_id for r in rows}))
    out = []
    for r, pl in zip(rows, decided):
        if pl.moot:
            continue
        p = people[r.patient_id]
        label = KIND_LABELS.get(pl.kind, pl.kind) + (" (waiting for the code to be confirmed)" if pl.held else "")
        out.append(PendingLetter(r.letter_id, pl.kind, label, r.patient_id, p.display_name,
                                 p.nhs_display, r.queued_at.date(), r.due, (r.due - today).days, pl.held))
    return out


def practice_details(store) -> PracticeDetails:
    data = store.practice_details()
    return PracticeDetails(name=data.get("name", ""), address=tuple(data.get("address", ())),
                           phone=data.get("phone", ""), email=data.get("email", ""), ods_code=data.get("ods", ""))


def _recipient(p: Patient) -> LetterRecipient:
    return LetterRecipient(p.title, p.forenames, p.surname, p.address, p.postcode, p.nhs_number, p.dob)


def _item(person: Patient, kind: str, action: str, effective: date, table: codes_mod.CodeTable,
          event: Event | None = None) -> LetterItem:
    name = " ".join(part for part in (person.forenames, person.surname) if part)
    confirmed = event is not None and event.coding_state == CONFIRMED
    state = {"coding_state": event.coding_state if event else PENDING,
             "confirmed_on": event.confirmed_at.date() if confirmed else None}
    if kind == INCLUDE:
        # Coded in practice as Type 1 withdrawn (the patient opted back in); withdrawing it has no code.
        code = table.lookup(codes_mod.TYPE1, codes_mod.WITHDRAW) if action == codes_mod.REGISTER else None
    else:
        code = table.lookup(kind, action)
    return LetterItem(name, person.nhs_number, person.dob, kind, action, effective,
                      code.snomed if code else "", code.read_v2 if code else "", code.ctv3 if code else "", **state)


def _notice_policy(history: Sequence[practice_policy.PolicyChange], row: letters_repo.LetterRow):
    """The turn-on a practice-wide notice was queued for: the latest 'on' recorded by then."""
    ons = [c for c in history if c.state == practice_policy.ON and c.recorded_at <= row.queued_at]
    if not ons:
        raise ValidationError(f"Letter {reference(row.letter_id)} is a practice-wide notice, but the register has "
                              "no record of the practice-wide opt-out being turned on before it was queued.", "letters")
    return max(ons, key=lambda c: c.seq)


def build_request(store, row: letters_repo.LetterRow, table: codes_mod.CodeTable, letter_date: date,
                  policy_history: Sequence[practice_policy.PolicyChange] | None = None,
                  printing: Plan | None = None, read: "_BatchReads | None" = None) -> LetterRequest:
    """Everything one letter says, read from the register (``policy_history`` saves re-reading
    the practice-wide opt-out's history for each notice in a batch). ``printing``: what the
    letter prints as (plan()); by default the row's own kind, e.g. for a reprint. ``read``: the
    batch's patients and form events read once for all its letters (_BatchReads)."""
    kind = printing.kind if printing is not None else row.kind
    read = read or _BatchReads.none()
    if row.kind == PRACTICE_WIDE_NOTICE:
        history = store.policy_history() if policy_history is None else policy_history
        turned_on = _notice_policy(history, row)
        return LetterRequest(row.kind, reference(row.letter_id), letter_date,
                             _recipient(read.patient(store, row.patient_id)),
                             policy_effective=turned_on.effective, policy_reason=turned_on.reason)
    adult = read.patient(store, row.patient_id)
    proxy_name = proxy_role = None
    if row.form_id is not None:
        events = (list(printing.events) if printing is not None and printing.events is not None
                  else read.form_events(store, row.form_id))
        people = read.patients(store, sorted({pid for pid, _ in events}))
        items = tuple(_item(people[pid], e.kind, e.action, e.effective, table, e) for pid, e in events)
        # A proxy acting for the addressee is named; a parent's own form needs no such line.
        own = [e for pid, e in events if pid == row.patient_id and e.proxy is not None]
        if own:
            proxy_name, proxy_role = own[0].proxy.name, own[0].proxy.role
    elif row.kind == TYPE2_IN_ERROR:
        # Late by the day the code was added, as the letter's own rule (check_type2_in_error) says:
        # an old form signed before the cut-off but keyed after it was never converted either.
        late = [e for e in store.history(row.patient_id)
                if e.kind == codes_mod.TYPE2 and e.action == codes_mod.REGISTER and e.added_on > table.type2_cutoff]
        items = tuple(_item(adult, e.kind, e.action, e.effective, table) for e in late)
    else:
        items = ()
    return LetterRequest(kind, reference(row.letter_id), letter_date, _recipient(adult), items,
                         proxy_name=proxy_name, proxy_role=proxy_role)


@dataclass
class _BatchReads:
    """A batch's patients and form events, read in one query each before its letters are built
    (on a server, a few round trips per batch instead of a few per letter); what is not here
    is read as before, one letter at a time."""
    people: dict[int, Patient]
    forms: dict[int, list]

    @classmethod
    def none(cls) -> "_BatchReads":
        return cls({}, {})

    @classmethod
    def of(cls, store, rows, decided: Sequence[Plan]) -> "_BatchReads":
        forms = sorted({r.form_id for r, p in zip(rows, decided) if r.form_id is not None and p.events is None
                        and r.kind != PRACTICE_WIDE_NOTICE})
        by_form = store.form_facts(forms)[0] if forms else {}
        ids = {r.patient_id for r in rows}
        ids.update(pid for p in decided if p.events for pid, _ in p.events)
        ids.update(pid for events in by_form.values() for pid, _ in events)
        return cls(store.get_patients(sorted(ids)), {f: by_form.get(f, []) for f in forms})

    def patient(self, store, patient_id: int) -> Patient:
        found = self.people.get(patient_id)
        return found if found is not None else store.get_patient(patient_id)

    def patients(self, store, ids: list[int]) -> dict[int, Patient]:
        missing = [i for i in ids if i not in self.people]
        return {**{i: self.people[i] for i in ids if i in self.people}, **(store.get_patients(missing) if missing else {})}

    def form_events(self, store, form_id: int) -> list:
        if form_id in self.forms:
            return self.forms[form_id]
        return store.form_facts([form_id])[0].get(form_id, [])


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
    with session.read_store("print_letters") as store:
        rows, decided, moot = _printable_now(store, _unsent(store, letter_ids), explicit=letter_ids is not None)
        requests, templates, _read = _requests_read(store, session, rows, sent_on, decided)
        practice = practice_details(store)
    # Rendered with no transaction open: a long run must not hold the register (hazard H-56).
    data, rendered = apart.render_bytes(requests, practice, templates)
    result = render.RenderResult(write_atomic(out, data), rendered)
    split = render.render_split(requests, practice, split_dir, templates) if split_dir is not None else ()
    try:
        with session.write("print_letters", changes_register=False) as ctx:
            store = ctx.store
            _still_as_planned(store, rows, decided, moot)
            # ... and would still print word for word as rendered (a name, an address or a
            # template changed meanwhile at another window would otherwise go out unseen).
            again, again_templates, read = _requests_read(store, session, rows, sent_on, decided)
            if (again, again_templates) != (requests, templates):
                raise ValidationError(CHANGED_WHILE_PRINTING, "letters")
            _cancel_moot(ctx, moot)
            # The whole batch marked in a few statements (arrays on the server), then each
            # letter audited in its old order: printed, then the confirmation it promises.
            store.mark_printed_many([(row.letter_id, _version_text(templates[pl.kind]))
                                     for row, pl in zip(rows, decided)], sent_on=sent_on)
            became = [(row, pl) for row, pl in zip(rows, decided) if pl.kind != row.kind]
            follows = dict(zip((row.letter_id for row, _ in became), store.became_acknowledgements(
                [(row, _promises_confirmation(pl)) for row, pl in became], queued_at=session.now(),
                due=one_calendar_month_after(sent_on))))
            acknowledged = 0
            for row, pl, letter in zip(rows, decided, result.letters):
                ref = store.audit_ref(read.patient(store, row.patient_id))
                ctx.audit("letter.print", ref,
                          detail=f"letter={row.letter_id} kind={pl.kind} template=v{letter.template_version} "
                                 f"pages={letter.pages} sent={sent_on.isoformat()}")
                if follows.get(row.letter_id) is not None:
                    ctx.audit("letter.queue", ref, detail=f"letter={follows[row.letter_id]} kind={row.kind} "
                                                          f"after={row.letter_id}")
                    acknowledged += 1
    except BaseException:
        # Not marked sent: remove what was written for them, so nobody posts letters the register
        # does not know went out (they print again from the queue).
        for path in [result.path, *(letter.path for letter in split if letter.path is not None)]:
            Path(path).unlink(missing_ok=True)
        raise
    overdue = sum(1 for r in rows if r.due < sent_on)
    summary = f"Printed {len(rows)} letter{'s' if len(rows) != 1 else ''} ({result.pages} pages) and marked them sent."
    if overdue:
        summary += f" {overdue} {'was' if overdue == 1 else 'were'} past the one-month deadline."
    if acknowledged:
        summary += (f" {acknowledged} {'was an acknowledgement' if acknowledged == 1 else 'were acknowledgements'}"
                    " (code not yet confirmed): the confirmation is queued and prints once the code is confirmed.")
    return ChangeSet(summary, ctx.revision, frozenset(r.patient_id for r in rows),
                     letter_ids=tuple(r.letter_id for r in rows), areas=frozenset({"letters"}),
                     data={"path": str(result.path), "split_dir": str(split_dir) if split_dir else None})


def _printable(ctx, rows: list[letters_repo.LetterRow], *, explicit: bool):
    """The rows that can print now, with what each prints as. Confirmations still waiting for
    their codes are skipped (refused when asked for by id); ones no longer needed are cancelled."""
    out_rows, out_plans, moot = _printable_now(ctx.store, rows, explicit=explicit)
    _cancel_moot(ctx, moot)
    return out_rows, out_plans


CHANGED_WHILE_PRINTING = ("These letters changed while they were being printed (in another window?): nothing "
                          "was marked sent and their PDF was removed. Print them again.")


def _printable_now(store, rows: list[letters_repo.LetterRow], *, explicit: bool):
    """_printable without writing: the rows that can print now with their plans, and the
    ones no longer needed (cancelled when the printed ones are marked sent)."""
    out_rows, out_plans, moot, held = [], [], [], 0
    for row, pl in zip(rows, plans_on(store, rows)):
        if pl.moot:
            moot.append(row)
        elif pl.held:
            if explicit:
                raise ValidationError(f"Letter {reference(row.letter_id)} confirms a code that is not yet confirmed "
                                      "in the clinical system: it prints once a reconciliation finds the code.",
                                      "letters")
            held += 1
        else:
            out_rows.append(row)
            out_plans.append(pl)
    if not out_rows:
        more = (f" {held} confirmation{'s wait' if held != 1 else ' waits'} for codes to be confirmed in the "
                "clinical system.") if held else ""
        raise ValidationError("No letters are waiting to be printed." + more, "letters")
    return out_rows, out_plans, moot


def _still_as_planned(store, rows, decided, moot) -> None:
    """Inside the transaction that marks them sent: the letters printed are still unsent and
    still print as they were rendered (another window may have printed or changed them)."""
    ids = [r.letter_id for r in rows] + [r.letter_id for r in moot]
    try:
        now = {row.letter_id: row for row in store.letters_by_id(ids) if row.sent_on is None}
    except NotFound:  # why: one was cancelled meanwhile: the batch changed
        now = {}
    changed = len(now) != len(ids)
    if not changed:
        current = [now[r.letter_id] for r in rows]
        again = plans_on(store, current)
        changed = any((p.kind, p.held, p.moot) != (q.kind, q.held, q.moot) for p, q in zip(decided, again))
        changed = changed or any(not p.moot for p in plans_on(store, [now[r.letter_id] for r in moot]))
    if changed:
        raise ValidationError(CHANGED_WHILE_PRINTING, "letters")


def _cancel_moot(ctx, moot) -> None:
    for row in moot:
        ctx.store.cancel_letter(row.letter_id)
        ctx.audit("letter.cancel", ctx.store.audit_ref(ctx.store.get_patient(row.patient_id)),
                  detail=f"letter={row.letter_id} kind={row.kind} reason=superseded")


def _promises_confirmation(pl: Plan) -> bool:
    """Withdrawing an include request has no code of its own to find in the clinical system
    (the practice-wide code applies again): nothing will confirm it, so promise nothing."""
    return not (pl.events and all(e.kind == INCLUDE and e.action == codes_mod.WITHDRAW for _, e in pl.events))


def _promise_confirmation(ctx, session: Session, row, pl: Plan, patient: Patient, sent_on: date) -> int:
    """An acknowledgement went out: log it as such and queue the confirmation it promises."""
    if pl.kind == row.kind:
        return 0
    if not _promises_confirmation(pl):
        ctx.store.became_acknowledgement(row.letter_id, row.kind, queued_at=None, due=None)
        return 0
    follow = ctx.store.became_acknowledgement(row.letter_id, row.kind, queued_at=session.now(),
                                              due=one_calendar_month_after(sent_on))
    ctx.audit("letter.queue", ctx.store.audit_ref(patient),
              detail=f"letter={follow} kind={row.kind} after={row.letter_id}")
    return 1


def _unsent(store, letter_ids: Sequence[int] | None) -> list[letters_repo.LetterRow]:
    """The letters ``letter_ids`` (or every one waiting), refused if any was already sent."""
    rows = store.letters_by_id(list(letter_ids)) if letter_ids else store.pending_letters()
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
        rows, decided = _printable(ctx, _unsent(ctx.store, letter_ids), explicit=letter_ids is not None)
        asked, rows, decided = len(rows), rows[:PREVIEW_LIMIT], decided[:PREVIEW_LIMIT]
        requests, templates = _requests(ctx.store, session, rows, session.today(), decided)
        practice = practice_details(ctx.store)
        for row in rows:  # the patients' details were read here: audited with the read
            ctx.audit("letter.preview", ctx.store.audit_ref(ctx.store.get_patient(row.patient_id)),
                      detail=f"letter={row.letter_id} kind={row.kind}")
    # Rendered after the transaction (and in the renderer's process in the desktop app).
    data, rendered = apart.render_bytes(requests, practice, templates)
    return LetterPreview(data, len(rows), sum(r.pages for r in rendered), asked)


def _requests(store, session: Session, rows, letter_date: date, decided: Sequence[Plan] | None = None):
    requests, templates, _read = _requests_read(store, session, rows, letter_date, decided)
    return requests, templates


def _requests_read(store, session: Session, rows, letter_date: date, decided: Sequence[Plan] | None = None):
    """(requests, templates, the batch's reads): every patient and form the letters name read
    once for the batch (_BatchReads), not once per letter."""
    decided = list(decided) if decided is not None else [Plan(r.kind) for r in rows]
    templates = {kind: templates_service.in_use_on(store, kind).template for kind in sorted({p.kind for p in decided})}
    history = store.policy_history() if any(r.kind == PRACTICE_WIDE_NOTICE for r in rows) else ()
    table = session.codes
    read = _BatchReads.of(store, rows, decided)
    requests = [build_request(store, r, table, letter_date, history, p, read) for r, p in zip(rows, decided)]
    return requests, templates, read


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
        history = ctx.store.policy_history()
        if not practice_policy.is_on(history, as_of=today):
            raise ValidationError(
                "The practice-wide opt-out is not on, so there is nothing to tell patients. "
                "A GP turns it on first; then queue the notice.", "practice_optout")
        turned_on = practice_policy.current_policy(history, as_of=today)
        due = one_calendar_month_after(today)
        count = ctx.store.queue_patient_notices(PRACTICE_WIDE_NOTICE, since=turned_on.recorded_at,
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
        store = ctx.store
        rows = store.letters_by_id(list(letter_ids))
        for row in rows:
            # What went out is what would have printed: an acknowledgement while a code is pending.
            pl = plan_on(store, row) if row.sent_on is None else Plan(row.kind)
            if pl.held:
                raise ValidationError(f"Letter {reference(row.letter_id)} confirms a code that is not yet confirmed "
                                      "in the clinical system: it cannot have been sent.", "letters")
            if store.mark_letter_sent(row.letter_id, on) == 0:
                raise ValidationError(f"Letter {reference(row.letter_id)} was already marked sent.", "letters")
            patient = store.get_patient(row.patient_id)
            ctx.audit("letter.sent", store.audit_ref(patient),
                      detail=f"letter={row.letter_id} kind={pl.kind} sent={on.isoformat()}")
            _promise_confirmation(ctx, session, row, pl, patient, on)
    return ChangeSet(f"Marked {len(rows)} letter{'s' if len(rows) != 1 else ''} sent on {on.day} {on:%b %Y}.",
                     ctx.revision, frozenset(r.patient_id for r in rows), letter_ids=tuple(letter_ids),
                     areas=frozenset({"letters"}))


def reprint(session: Session, nhs: str, out: Path, *, letter_id: int | None = None) -> ChangeSet:
    """Reprint a patient's latest letter (or ``letter_id``), dated as first sent, same reference."""
    digits = nhs_number.validate(nhs)
    with session.write("print_letters", changes_register=False) as ctx:
        store = ctx.store
        patient = store.by_nhs(digits)
        rows = store.patient_letters(patient.patient_id)
        if letter_id is not None:
            rows = [r for r in rows if r.letter_id == letter_id]
        # A sent letter reprints as it went out; one not yet sent as it would print today, and a
        # confirmation still waiting for its codes not at all.
        decided = {r.letter_id: (Plan(r.kind) if r.sent_on else plan_on(store, r)) for r in rows}
        rows = [r for r in rows if not (decided[r.letter_id].held or decided[r.letter_id].moot)]
        if not rows:
            raise ValidationError("This patient has no letter to reprint.", "letters")
        row = rows[-1]
        pl = decided[row.letter_id]
        letter_date = row.sent_on or session.today()
        requests, templates = _requests(store, session, [row], letter_date, [pl])
        result = render.render_batch(requests, practice_details(store), out, templates)
        store.mark_printed(row.letter_id, template_version=_version_text(templates[pl.kind]), sent_on=None)
        ctx.audit("letter.reprint", store.audit_ref(patient),
                  detail=f"letter={row.letter_id} kind={row.kind} template=v{result.letters[0].template_version}")
    state = "" if row.sent_on else " It has not been marked sent."
    return ChangeSet(f"Reprinted letter {reference(row.letter_id)}.{state}", ctx.revision, frozenset({patient.patient_id}),
                     letter_ids=(row.letter_id,), areas=frozenset({"letters"}), data={"path": str(result.path)})


# The installed policy-change wording has a paragraph the practice must write: it is refused
# until the practice saves its own (Letter templates), so the stub never reaches a patient.
POLICY_CHANGE_STUB = "PRACTICE MANAGER:"


def policy_change_audience(session: Session) -> int:
    """How many patients a policy-change mailing would go to: every Type 1 objection in force."""
    with session.read_store("view_letters") as store:
        return store.in_force_type1_count()


def queue_policy_change(session: Session) -> ChangeSet:
    """Queue the policy-change letter (the practice's own wording) to every patient whose Type 1
    objection is in force: the letters promised that the practice would tell them if Type 1
    opt-outs change. Received-only objections and withdrawals are not written to; anyone
    with one still waiting is not queued twice. Due one calendar month from today. Manager
    only; one audit row with the count."""
    today = session.today()
    with session.write("print_letters", changes_register=False) as ctx:
        wording = templates_service.in_use_on(ctx.store, POLICY_CHANGE)
        if not wording.own or POLICY_CHANGE_STUB in wording.template.source:
            raise ValidationError(
                "Write the policy-change letter first: open Letter templates, choose the Type 1 policy change "
                "letter, replace the 'PRACTICE MANAGER:' paragraph with what has changed, and save. Nothing "
                "was queued.", "template")
        due = one_calendar_month_after(today)
        count = ctx.store.queue_for_in_force_objectors(POLICY_CHANGE, queued_at=session.now(), due=due)
        ctx.audit("letter.queue_policy_change",
                  detail=f"letters={count} kind={POLICY_CHANGE} template=v{wording.template.version} "
                         f"due={due.isoformat()}")
    if count == 0:
        summary = ("No letters queued: no patient has a Type 1 objection in force without a policy-change letter "
                   "already waiting.")
    else:
        summary = (f"Queued {count:,} policy-change letter{'s' if count != 1 else ''}, one to each patient whose "
                   f"Type 1 objection is in force (due by {due.day} {due:%b %Y}). Print them from the letters queue.")
    return ChangeSet(summary, ctx.revision, areas=frozenset({"letters"}), data={"count": count, "due": due.isoformat()})


def queue_transferred(session: Session, nhs: str) -> ChangeSet:
    """Queue the letter for an objector who has left the practice: the objection travels with
    the record by GP2GP (which can re-date codes); they should check it at their new practice.
    Only for a patient the practice list shows as deducted, with a Type 1 objection recorded here."""
    from ..domain.practice_list import DEDUCTED

    digits = nhs_number.validate(nhs)
    with session.write("queue_letter", changes_register=False) as ctx:
        store = ctx.store
        patient = store.by_nhs(digits)
        if store.registration(patient.patient_id).status != DEDUCTED:
            raise ValidationError("This patient has not left the practice (the practice list does not show them as "
                                  "deducted): nothing was queued.", "registration")
        if not store.type1_active(patient.patient_id):
            raise ValidationError("This patient has no Type 1 objection recorded here: nothing was queued.", "type")
        due = one_calendar_month_after(session.today())
        letter_id = store.queue_letter(patient.patient_id, None, TRANSFERRED, session.now(), due)
        ctx.audit("letter.queue", store.audit_ref(patient), detail=f"letter={letter_id} kind={TRANSFERRED}")
    return ChangeSet(f"Letter queued (due by {due.day} {due:%b %Y}): the objection travels with the record by GP2GP; "
                     "check it at the new practice.", ctx.revision, frozenset({patient.patient_id}),
                     letter_ids=(letter_id,), areas=frozenset({"letters"}))
