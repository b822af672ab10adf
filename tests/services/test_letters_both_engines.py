"""Letters on both engines (ADR 0015): printing a batch, marking sent, reprints, the
policy-change mailing, the transfer letter, the practice-wide notice and the practice's own
wording, through the services on a register file and on a practice on the PostgreSQL server.

``letters_work`` is one script of a letters clerk's work; it runs on each engine with the same
clock and everything it observes (change sets, queues, records, the text of every PDF) and
every audit entry must be equal, except how the audit names a patient. The tests after it
take the ``backend`` fixture and run once on each engine."""

from __future__ import annotations

import io
import itertools
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pypdf import PdfReader

from gp_optout_desktop.domain import roles
from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.letters import apart
from gp_optout_desktop.letters.templates import load_template
from gp_optout_desktop.services import letters, objections, patients, templates
from tests.services.conftest import Backend, server_manager

START = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)
OWN_WORDS = "From 1 April 2027 Type 1 objections are replaced by the National Data Opt-out."


def _own_wording() -> str:
    return load_template("policy_change").source.replace(
        "PRACTICE MANAGER: replace this paragraph with what has changed, from when, and what happens to the "
        "patient's Type 1 objection. The register refuses to queue this letter until the practice has saved "
        "its own wording.", OWN_WORDS)


def _text(pdf) -> list[str]:
    """Each page's text, from a path or from bytes (the PDF's own metadata differs by run)."""
    source = io.BytesIO(pdf) if isinstance(pdf, bytes) else str(pdf)
    return [" ".join(page.extract_text().split()) for page in PdfReader(source).pages]


def _outcome(call):
    try:
        return call()
    except Exception as exc:  # the refusal is part of the result compared
        return ("refused", type(exc).__name__, str(exc))


def letters_work(backend: Backend, out: Path) -> tuple[list, dict]:
    """The script. Returns (everything observed, NHS number by patient id)."""
    session = backend.manager
    seconds = itertools.count()
    session.clock = lambda: START + timedelta(seconds=next(seconds))
    base = session.revision()
    seen: list = []

    def change(c):
        if isinstance(c, tuple):
            return c
        data = {k: (str(v).replace(str(out), "<out>") if k in ("path", "split_dir") else v) for k, v in c.data.items()}
        return (c.summary, c.revision - base, sorted(c.patient_ids), c.event_ids, c.letter_ids, sorted(c.areas),
                c.warnings, data)

    def add(surname, forenames, nhs, dob, **kw):
        return patients.add(session, surname=surname, forenames=forenames, nhs=nhs, dob=dob,
                            postcode_raw="LS1 4AP", address=["1 Leaf Lane", "Leeds"], **kw).data["patient_id"]

    parent = add("Family", "Pat", "9990000018", "1980-01-01", title="Ms")
    kid = add("Family", "Kim", "9990000026", "2015-02-03")
    late = add("O'Brien-Ŵyn", "Siân", "9990000034", "1944-03-03")
    mover = add("Away", "Kit", "9990000042", "1990-07-07")
    objections.record(session, parent, dependants=[kid], received=date(2026, 1, 20), effective=date(2026, 1, 20))
    objections.record(session, late)
    objections.record(session, mover)
    objections.mark_coded(session, patients.view(session, mover).history[0].event_id)

    seen.append(letters.pending_and_held(session))
    shown = letters.preview(session)
    seen.append((shown.letters, shown.pages, shown.asked, _text(shown.pdf)))
    printed = letters.print_batch(session, out / "batch.pdf", split_dir=out / "split")
    seen.append((change(printed), _text(out / "batch.pdf"), sorted(p.name for p in (out / "split").iterdir())))
    seen.append(letters.pending_and_held(session))
    first = printed.letter_ids[0]
    seen.append(_outcome(lambda: letters.print_batch(session, out / "again.pdf", letter_ids=[first])))
    seen.append(patients.view(session, parent).letters)
    seen.append(change(letters.reprint(session, "999 000 0018", out / "reprint.pdf")))
    seen.append(_text(out / "reprint.pdf"))
    seen.append(patients.view(session, parent).letters)

    # The codes are found in the clinical system: the confirmations they wait for can go.
    backend.confirm(parent)
    backend.confirm(kid)
    seen.append(letters.pending_and_held(session))
    confirmation = [p.letter_id for p in letters.pending(session) if p.patient_id == parent]
    seen.append(_outcome(lambda: letters.mark_sent(session, confirmation, date(2026, 3, 3))))  # the future
    seen.append(change(letters.mark_sent(session, confirmation, date(2026, 3, 2))))
    seen.append(_outcome(lambda: letters.mark_sent(session, confirmation, date(2026, 3, 2))))  # twice
    seen.append(_outcome(lambda: letters.mark_sent(session, [9999], date(2026, 3, 2))))  # no such letter
    seen.append(patients.view(session, parent).letters)

    # Siân withdraws before her code is found: her held confirmation is no longer needed.
    objections.record(session, late, action="withdraw")
    printed = letters.print_batch(session, out / "second.pdf")
    seen.append((change(printed), _text(out / "second.pdf")))
    seen.append(patients.view(session, late).letters)

    # The policy-change mailing: refused on the installed wording, then to those in force only.
    seen.append(letters.policy_change_audience(session))
    seen.append(_outcome(lambda: letters.queue_policy_change(session)))
    seen.append(change(templates.save_template(session, "policy_change", _own_wording())))
    current = templates.current(session, "policy_change")
    seen.append((current.own, current.template.version, current.saved_by, current.saved_at))
    seen.append(change(letters.queue_policy_change(session)))
    seen.append(change(letters.queue_policy_change(session)))  # not queued twice
    mailing = [p.letter_id for p in letters.pending(session) if p.kind == "policy_change"]
    seen.append(change(letters.print_batch(session, out / "policy.pdf", letter_ids=mailing)))
    seen.append(_text(out / "policy.pdf"))
    seen.append(change(templates.use_installed(session, "policy_change")))
    seen.append(change(templates.use_installed(session, "policy_change")))  # already installed

    # Kit leaves the practice: the letter saying his objection travels with him.
    seen.append(_outcome(lambda: letters.queue_transferred(session, "9990000042")))  # not deducted
    backend.deduct(mover, date(2026, 3, 1))
    backend.deduct(late, date(2026, 3, 1))
    seen.append(_outcome(lambda: letters.queue_transferred(session, "9990000034")))  # withdrawn: no objection
    seen.append(change(letters.queue_transferred(session, "9990000042")))
    seen.append(letters.pending_and_held(session))
    seen.append(change(letters.print_batch(session, out / "moved.pdf")))
    seen.append(_text(out / "moved.pdf"))
    for pid in (parent, kid, late, mover):
        seen.append(patients.view(session, pid).letters)
    seen.append(session.revision() - base)
    return seen, {parent: "9990000018", kid: "9990000026", late: "9990000034", mover: "9990000042"}


def _trail(backend: Backend, since: int, numbers: dict) -> list[tuple]:
    as_file = {backend.patient_ref(nhs, pid): nhs for pid, nhs in numbers.items()}
    return [(seq - since, user, role, action, as_file.get(patient, patient), outcome, detail)
            for seq, user, role, action, patient, outcome, detail in backend.audit_rows() if seq > since]


@pytest.mark.server
def test_the_same_letters_work_gives_the_same_results_on_both_engines(both_engines, tmp_path):
    engines = both_engines
    results, trails = [], []
    for engine in engines:
        out = tmp_path / engine.name
        out.mkdir()
        since = engine.audit_rows()[-1][0]
        seen, numbers = letters_work(engine, out)
        results.append(seen)
        trails.append(_trail(engine, since, numbers))
    file_seen, server_seen = results
    assert len(file_seen) == len(server_seen) == 38
    for i, (a, b) in enumerate(zip(file_seen, server_seen)):
        assert a == b, f"step {i}"
    assert trails[0] == trails[1]
    # What the script must have exercised, so equal is not equal-and-empty.
    actions = [t[3] for t in trails[0]]
    for action, times in (("letter.print", 7), ("letter.sent", 1), ("letter.reprint", 1), ("letter.cancel", 1),
                          ("letter.preview", 3), ("letter.queue_policy_change", 2), ("template.save", 1),
                          ("template.use_installed", 2)):
        assert actions.count(action) == times, action
    first_batch = file_seen[2]
    assert "Printed 3 letters" in first_batch[0][0] and len(first_batch[2]) == 3
    assert file_seen[17] == 2 and file_seen[21][7]["count"] == 2 and file_seen[22][7]["count"] == 0
    assert sum(OWN_WORDS in page for page in file_seen[24]) == 2
    assert "Letter queued" in file_seen[29][0] and "Printed 1 letter" in file_seen[31][0]
    assert [letter["kind"] for letter in file_seen[36]][-1] == "transferred" and file_seen[36][-1]["sent_at"]
    refusals = [s[1] for s in file_seen if isinstance(s, tuple) and s and s[0] == "refused"]
    assert refusals == ["ValidationError"] * 3 + ["NotFound"] + ["ValidationError"] * 3
    assert "already sent: reprint" in file_seen[4][2] and "Write the policy-change letter" in file_seen[18][2]


def _in_transaction(backend: Backend) -> bool:
    if backend.name == "sqlcipher":
        return backend.manager.register.conn.in_transaction
    from psycopg.pq import TransactionStatus

    return backend.manager.desk.conn.info.transaction_status != TransactionStatus.IDLE


def _edit_address(session, pid, line: str):
    p = patients.view(session, pid).patient
    return patients.edit(session, pid, surname=p.surname, forenames=p.forenames, dob=p.dob.isoformat(),
                         postcode_raw=p.postcode, nhs=p.nhs_number, address=[line])


def test_a_batch_renders_with_no_transaction_open_and_is_marked_sent_in_one_short_write(
        backend, add_patient, tmp_path, monkeypatch):
    pm = backend.manager
    pid = add_patient(pm, address=["1 Old Road"])
    objections.record(pm, pid)
    desk = backend.session("desk", roles.RECEPTIONIST)
    real, during = apart.render_bytes, []

    def render(*args, **kw):
        during.append(_in_transaction(backend))
        # Another desk saves meanwhile: not blocked by the print run.
        during.append(_edit_address(desk, pid, "2 New Road").summary)
        return real(*args, **kw)

    monkeypatch.setattr(apart, "render_bytes", render)
    revision = pm.revision()
    with pytest.raises(ValidationError, match="changed while they were being printed"):
        letters.print_batch(pm, tmp_path / "batch.pdf")
    assert during == [False, "Updated Alex Testperson's address."]
    # The letter rendered with the old address was not marked sent, and its PDF is gone.
    assert not (tmp_path / "batch.pdf").exists()
    assert [p.patient_id for p in letters.pending(pm)] == [pid]
    assert not [r for r in backend.audit_rows() if r[3] == "letter.print"]

    monkeypatch.setattr(apart, "render_bytes", real)
    change = letters.print_batch(pm, tmp_path / "batch.pdf")
    assert "2 New Road" in " ".join(_text(tmp_path / "batch.pdf")) and letters.pending(pm) == []
    # Marking sent is an audited read: the register's revision is the desk's edit's only.
    assert change.revision == pm.revision() == revision + 1
    ref = backend.patient_ref(patients.view(pm, pid).patient.nhs_number, pid)
    printed = [r for r in backend.audit_rows() if r[3] == "letter.print"]
    assert [(r[1], r[4]) for r in printed] == [("pm", ref)] and "sent=" in printed[0][6]


def test_a_receptionist_sees_the_queue_but_may_not_print_and_the_refusal_is_audited(backend, add_patient, tmp_path):
    pid = add_patient(backend.manager)
    objections.record(backend.manager, pid)
    desk = backend.session("desk", roles.RECEPTIONIST)
    assert [p.patient_id for p in letters.pending(desk)] == [pid]
    for attempt in (lambda: letters.print_batch(desk, tmp_path / "no.pdf"),
                    lambda: letters.mark_sent(desk, [1], desk.today()),
                    lambda: letters.reprint(desk, patients.view(desk, pid).patient.nhs_number, tmp_path / "r.pdf")):
        with pytest.raises(PermissionError, match="may not print letters"):
            attempt()
    assert not (tmp_path / "no.pdf").exists() and not (tmp_path / "r.pdf").exists()
    assert len(letters.pending(desk)) == 1
    denied = [(r[1], r[3]) for r in backend.audit_rows() if r[5] == "denied"]
    assert denied == [("desk", "denied.print_letters")] * 3


def test_nothing_is_marked_sent_when_the_pdf_cannot_be_written(backend, add_patient, tmp_path):
    pid = add_patient(backend.manager)
    objections.record(backend.manager, pid)
    with pytest.raises(OSError):
        letters.print_batch(backend.manager, tmp_path / "missing-folder" / "x.pdf")
    assert [p.patient_id for p in letters.pending(backend.manager)] == [pid]
    assert patients.view(backend.manager, pid).letters[0]["printed_count"] == 0


def test_the_practice_wide_notice_goes_to_each_patient_of_16_or_over_still_with_the_practice(
        backend, add_patient, tmp_path):
    pm = backend.manager
    pm.clock = lambda: datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
    adult = add_patient(pm, surname="Adult", dob="1980-01-01")
    sixteen = add_patient(pm, surname="Sixteen", dob="2010-03-02")  # 16 today
    add_patient(pm, surname="Fifteen", dob="2010-03-03")
    gone = add_patient(pm, surname="Gone", dob="1950-01-01")
    backend.deduct(gone, date(2026, 1, 1))
    with pytest.raises(ValidationError, match="not on"):
        letters.queue_practice_wide_notice(pm)
    backend.practice_optout_on(date(2026, 3, 2))
    assert letters.queue_practice_wide_notice(pm).data["count"] == 2
    assert letters.queue_practice_wide_notice(pm).data["count"] == 0  # queued once
    notices = [p for p in letters.pending(pm) if p.kind == "practice_wide_notice"]
    assert sorted(p.patient_id for p in notices) == sorted([adult, sixteen])
    letters.print_batch(pm, tmp_path / "notice.pdf", letter_ids=[notices[0].letter_id])
    assert "Test: the GPs decided" in " ".join(_text(tmp_path / "notice.pdf"))


@pytest.mark.server
def test_a_desk_cannot_delete_a_letter_that_went_out_on_the_server(pg_db, tmp_path):
    """Schema V3 lets a desk drop a letter never sent (a confirmation no longer needed); a
    letter that was sent is the record of what a patient was told, and stays."""
    closers: list = []
    session = server_manager(pg_db, closers)
    try:
        pid = patients.add(session, surname="Kept", forenames="Kay", dob="1970-01-01", postcode_raw="LS1 4AP",
                           nhs="9990000018").data["patient_id"]
        objections.record(session, pid)
        objections.record(session, pid, action="withdraw")
        sent, waiting = [p.letter_id for p in letters.pending(session)]
        letters.mark_sent(session, [sent], session.today())
        with session.desk.write(changes_register=False) as tx:
            deleted = [tx.conn.execute("DELETE FROM letters WHERE id = %s", (i,)).rowcount for i in (sent, waiting)]
            tx.audit("test.delete")
        assert deleted == [0, 1]
        kept = [letter["letter_id"] for letter in patients.view(session, pid).letters]
        assert sent in kept and waiting not in kept
    finally:
        session.lock()
        for close in closers:
            close()
