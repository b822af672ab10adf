"""Letters through a real encrypted register: record -> queued -> printed -> sent -> reprinted."""

from datetime import date, datetime, timezone

import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.domain.events import Proxy
from gp_optout_desktop.services import audit, letters, objections, session as session_service, users

from .helpers import AWKWARD, pdf_text, poppler_text


def _fixed_clock(session, day: date):
    session.clock = lambda: datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc)


def _nhs(session, pid):
    from gp_optout_desktop.services import patients

    return patients.view(session, pid).patient.nhs_number


def test_record_queue_print_send_reprint(manager, add_patient, tmp_path):
    _fixed_clock(manager, date(2025, 3, 20))
    parent = add_patient(manager, surname=AWKWARD, forenames="Siân", title="Ms", address=["Tŷ Gwyn", "Llandudno"])
    kid = add_patient(manager, surname="O'Brien-Ŵyn", forenames="Dafydd", dob="2014-06-01", address=["Tŷ Gwyn", "Llandudno"])
    objections.record(manager, parent, dependants=[kid], received=date(2025, 2, 10), effective=date(2025, 2, 10))
    late = add_patient(manager, surname="Later", forenames="Lowri")
    objections.record(manager, late, received=date(2025, 3, 18), effective=date(2025, 3, 18))

    queue = letters.pending(manager)
    assert [q.patient_name for q in queue] == [f"Ms Siân {AWKWARD}", "Lowri Later"]  # nearest deadline first
    first = queue[0]
    assert first.due == date(2025, 3, 10) and first.overdue and first.days_left == -10
    assert queue[1].due == date(2025, 4, 18) and not queue[1].overdue

    out = tmp_path / "batch.pdf"
    change = letters.print_batch(manager, out, split_dir=tmp_path / "split", sent_on=date(2025, 3, 20))
    assert "Printed 2 letters" in change.summary and "1 was past" in change.summary
    pages = pdf_text(out)
    text = "".join(pages)
    for expected in (f"Ms Siân {AWKWARD}", "Tŷ Gwyn", "LS1 4AP", "Dafydd O'Brien-Ŵyn", "20 March 2025",
                     "10 February 2025", "SNOMED CT 827241000000103", "Read v2 9Nu0.", "CTV3 XaZ89",
                     "Test Surgery", "ODS code F84003", letters.reference(first.letter_id)):
        assert expected in text, expected
    nhs_parent = _nhs(manager, parent)
    assert f"{nhs_parent[:3]} {nhs_parent[3:6]} {nhs_parent[6:]}" in text
    assert len(list((tmp_path / "split").iterdir())) == 2
    assert letters.pending(manager) == []
    # Not yet coded: each went out as an acknowledgement, and the confirmation it promises waits.
    assert "2 were acknowledgements" in change.summary and "not yet in your GP record" in text
    assert "now in your GP record" not in text
    assert [h.kind for h in letters.held(manager)] == ["objection", "objection"]

    # Sent with the date and the template version; a second print of the same letters is refused.
    from gp_optout_desktop.services import patients

    record = patients.view(manager, parent)
    row, follow = record.letters
    assert row["kind"] == "objection_received" and follow["kind"] == "objection" and follow["sent_at"] is None
    assert row["sent_at"] == "2025-03-20" and row["template_version"].startswith("1 sha256:")
    assert row["printed_count"] == 1
    with pytest.raises(ValidationError, match="already sent: reprint"):
        letters.print_batch(manager, tmp_path / "again.pdf", letter_ids=[first.letter_id])

    again = tmp_path / "reprint.pdf"
    change = letters.reprint(manager, nhs_parent, again)
    assert "Reprinted letter" in change.summary
    reprint_text = pdf_text(again)[0]
    assert "20 March 2025" in reprint_text and letters.reference(first.letter_id) in reprint_text
    record = patients.view(manager, parent)
    assert record.letters[0]["printed_count"] == 2 and record.letters[0]["sent_at"] == "2025-03-20"

    actions = [(r.action, r.patient) for r in audit.query(manager, action="letter.")]
    assert ("letter.print", nhs_parent) in actions and ("letter.reprint", nhs_parent) in actions
    assert [a for a, _ in actions].count("letter.print") == 2


def test_page_numbers_and_proxy_come_from_the_register(manager, add_patient, tmp_path):
    pid = add_patient(manager, surname="Proxied", forenames="Pat")
    objections.record(manager, pid, proxy=Proxy("lpa_health_welfare", "Jo Attorney", "OPG stamp", "pm"), via="post",
                      donor_lacks_capacity=True)
    letters.print_batch(manager, tmp_path / "p.pdf")
    text = poppler_text(tmp_path / "p.pdf")[0]
    assert "on the patient's behalf by Jo Attorney (Lasting power of attorney (health and welfare))" in " ".join(text.split())
    assert "Page 1 of 1" in text


def test_withdrawal_include_and_late_type2_letters(manager, add_patient, tmp_path):
    pid = add_patient(manager)
    objections.record(manager, pid, effective=date(2024, 1, 2), received=date(2024, 1, 2))
    objections.record(manager, pid, action="withdraw")
    other = add_patient(manager, surname="Included")
    objections.record(manager, other, kind="include")
    t2 = add_patient(manager, surname="Latetype")
    objections.type2_recorded_in_error(manager, t2)
    kinds = sorted(q.kind for q in letters.pending(manager))
    assert kinds == ["include_received", "objection_received", "type2_in_error", "withdrawal_received"]
    letters.print_batch(manager, tmp_path / "all.pdf")
    text = " ".join("".join(pdf_text(tmp_path / "all.pdf")).split())
    assert "SNOMED CT 827261000000102" in text  # withdrawal (and include, coded as Type 1 withdrawn)
    assert "Asked to be included" in text
    assert "any added after 11 October 2018 are not processed" in text and "0300 303 5678" in text


def test_mark_sent_without_printing(manager, add_patient):
    _fixed_clock(manager, date(2025, 3, 20))
    pid = add_patient(manager)
    objections.record(manager, pid)
    (letter,) = letters.pending(manager)
    with pytest.raises(ValidationError, match="future"):
        letters.mark_sent(manager, [letter.letter_id], date(2025, 3, 21))
    letters.mark_sent(manager, [letter.letter_id], date(2025, 3, 19))
    assert letters.pending(manager) == []
    with pytest.raises(ValidationError, match="already marked sent"):
        letters.mark_sent(manager, [letter.letter_id], date(2025, 3, 19))


def test_desk_sees_the_queue_but_may_not_print(manager, register_dir, add_patient, tmp_path):
    pid = add_patient(manager)
    objections.record(manager, pid)
    users.add(manager, "desk", roles.RECEPTIONIST, "desk-password")
    manager.lock()
    desk = session_service.unlock(register_dir, "desk", "desk-password")
    try:
        assert len(letters.pending(desk)) == 1
        with pytest.raises(PermissionError, match="may not print letters"):
            letters.print_batch(desk, tmp_path / "no.pdf")
        assert not (tmp_path / "no.pdf").exists()
        assert len(letters.pending(desk)) == 1
    finally:
        desk.lock()


def test_nothing_is_marked_sent_when_the_pdf_cannot_be_written(manager, add_patient, tmp_path):
    pid = add_patient(manager)
    objections.record(manager, pid)
    with pytest.raises(OSError):
        letters.print_batch(manager, tmp_path / "missing-folder" / "x.pdf")
    assert len(letters.pending(manager)) == 1


@pytest.fixture
def run(cli_pm):
    return cli_pm


def test_cli_pending_print_reprint(run, tmp_path):
    assert run("patient", "add", "--nhs", "999 000 0018", "--surname", "Cli", "--forenames", "Pat",
               "--dob", "1980-01-01", "--postcode", "ls14ap")[0] == 0
    assert run("object", "--nhs", "9990000018", "--via", "post")[0] == 0
    code, out, _ = run("letters", "pending")
    assert code == 0 and "Acknowledgement of an objection (code pending)" in out and "1 waiting, 0 overdue." in out
    code, out, err = run("letters", "print", "--out", str(tmp_path / "b.pdf"), "--split", str(tmp_path / "s"))
    assert code == 0, err
    assert "Printed 1 letter" in out and (tmp_path / "b.pdf").exists() and len(list((tmp_path / "s").iterdir())) == 1
    assert "999 000 0018" in pdf_text(tmp_path / "b.pdf")[0]
    code, out, _ = run("letters", "pending")
    assert "No letters are waiting." in out and "1 confirmation waits for codes to be confirmed" in out
    code, out, err = run("letters", "print", "--out", str(tmp_path / "c.pdf"))
    assert code == 2 and "No letters are waiting to be printed. 1 confirmation waits" in err and "9990000018" not in err
    code, out, _ = run("letters", "reprint", "--nhs", "9990000018", "--out", str(tmp_path / "r.pdf"))
    assert code == 0 and (tmp_path / "r.pdf").exists()


def test_preview_is_the_print_without_marking_sent(manager, register_dir, add_patient, tmp_path, monkeypatch):
    import io

    from pypdf import PdfReader

    _fixed_clock(manager, date(2025, 3, 20))
    for surname in ("Able", "Baker", "Cole"):
        objections.record(manager, add_patient(manager, surname=surname, forenames=AWKWARD))
    queue = letters.pending(manager)
    draft = letters.preview(manager)
    assert (draft.letters, draft.asked) == (3, 3)
    drafted = [p.extract_text() for p in PdfReader(io.BytesIO(draft.pdf)).pages]
    assert len(drafted) == draft.pages
    assert [q.letter_id for q in letters.pending(manager)] == [q.letter_id for q in queue]  # nothing sent
    assert len(audit.query(manager, action="letter.preview")) == 3  # a read of each patient
    out = tmp_path / "batch.pdf"
    letters.print_batch(manager, out)
    assert pdf_text(out) == drafted  # the same pages, word for word
    with pytest.raises(ValidationError, match="already sent"):
        letters.preview(manager, [queue[0].letter_id])

    # A large run is previewed from its start; the caption says how many of how many.
    monkeypatch.setattr(letters, "PREVIEW_LIMIT", 2)
    for surname in ("Dean", "Eyre", "Ford"):
        objections.record(manager, add_patient(manager, surname=surname))
    capped = letters.preview(manager)
    assert (capped.letters, capped.asked) == (2, 3)

    users.add(manager, "desk", roles.RECEPTIONIST, "desk-password")
    manager.lock()
    desk = session_service.unlock(register_dir, "desk", "desk-password")
    try:
        with pytest.raises(PermissionError, match="may not print letters"):
            letters.preview(desk)
    finally:
        desk.lock()


def test_cli_template_show_save_standard(run, tmp_path):
    from gp_optout_desktop.letters.templates import load_template

    installed = load_template("withdrawal")
    edit = tmp_path / "withdrawal.txt"
    code, out, err = run("letters", "template", "show", "withdrawal", "--out", str(edit))
    assert code == 0 and edit.read_text(encoding="utf-8") == installed.source, err
    edit.write_text(installed.source.replace("Dear {salutation},", "Dear {salutaton},"), encoding="utf-8")
    code, _, err = run("letters", "template", "save", "withdrawal", "--from", str(edit))
    assert code == 2 and "{salutaton}" in err and "Traceback" not in err
    edit.write_text(installed.source.replace("Dear {salutation},", "Hello {salutation},"), encoding="utf-8")
    code, out, err = run("letters", "template", "save", "withdrawal", "--from", str(edit))
    assert code == 0 and f"version {installed.version + 1}" in out, err
    code, out, _ = run("letters", "template", "show", "withdrawal")
    assert "Hello {salutation}," in out and f"version: {installed.version + 1}" in out
    edit.write_bytes(b"\xff\xfe not utf-8")
    code, _, err = run("letters", "template", "save", "withdrawal", "--from", str(edit))
    assert code == 2 and "not UTF-8" in err
    code, out, _ = run("letters", "template", "standard", "withdrawal")
    assert code == 0 and "standard wording" in out
    assert run("letters", "template", "show", "withdrawal")[1].strip() == installed.source.strip()


def test_cli_type2_in_error_letter(run, tmp_path):
    assert run("patient", "add", "--nhs", "999 000 0018", "--surname", "Late", "--forenames", "Tia",
               "--dob", "1980-01-01", "--postcode", "ls14ap")[0] == 0
    code, out, err = run("object", "--nhs", "9990000018", "--type", "type2")
    assert code == 2 and "cannot be recorded" in err  # after the cut-off: refused
    code, out, err = run("letters", "type2-in-error", "--nhs", "9990000018")
    assert code == 0 and out.startswith("Letter queued: Type 2 recorded in error"), err
    code, out, _ = run("letters", "print", "--out", str(tmp_path / "t2.pdf"))
    text = " ".join(" ".join(pdf_text(tmp_path / "t2.pdf")).split())
    assert code == 0 and "0300 303 5678" in text and "999 000 0018" in text
