"""Received vs in force, read back from the printed PDFs through a real register: an
acknowledgement while the code is pending (never "in your GP record"), the confirmation once a
reconciliation found the code; a tick is not enough; every letter carries direct care, what
Type 1 does not stop and the official sentence that Type 1 may change; under-13s are told
the National Data Opt-out route is post or phone."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.letters.model import KINDS, PRACTICE_WIDE_NOTICE, LetterRequest
from gp_optout_desktop.letters.templates import load_template
from gp_optout_desktop.services import letters, objections, patients
from tests.in_force_helpers import confirm

from .helpers import item, pdf_text, recipient

DIRECT_CARE = "Your direct care: the people caring for you (your GP, nurses, hospital teams, pharmacists) still see and share what they need to treat you."
NOT_STOPPED = ("Sharing required by law or a court order, to protect you or others from harm (safeguarding), or in a "
               "public-health emergency such as a pandemic; or anonymous or aggregate information")
MAY_CHANGE = ("Type 1 opt-outs may be discontinued in future, and may be turned into a National Data Opt-out. "
              "If this happens, we will tell you.")
UNDER_13 = ("For a child under 13, a parent or guardian sets the National Data Opt-out by post or by phone on "
            "0300 303 5678, not in the NHS App or online.")


def _flat(path) -> str:
    return " ".join(" ".join(pdf_text(path)).split())


def _clock(session, day: date) -> None:
    session.clock = lambda: datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc)


def _always_there(text: str) -> None:
    for words in (DIRECT_CARE, NOT_STOPPED, MAY_CHANGE, "only you can set it"):
        assert words in text, words


def test_pending_prints_an_acknowledgement_then_the_confirmation_once_in_force(manager, add_patient, tmp_path):
    _clock(manager, date(2026, 3, 2))
    pid = add_patient(manager, surname="Pending", forenames="Pat", dob="1970-01-01")
    objections.record(manager, pid, received=date(2026, 3, 2), effective=date(2026, 3, 2))

    (waiting,) = letters.pending(manager)
    assert waiting.kind == "objection_received" and "code pending" in waiting.kind_label
    change = letters.print_batch(manager, tmp_path / "ack.pdf")
    ack = _flat(tmp_path / "ack.pdf")
    assert "We have received your objection" in ack and "It is not in force yet" in ack
    assert "not yet in your GP record" in ack
    assert "is now in your GP record" not in ack and "recorded in your GP record" not in ack
    assert "your objection does not yet stop your information being collected" in ack
    _always_there(ack)
    assert UNDER_13 not in ack  # an adult
    assert "was an acknowledgement" in change.summary

    # The confirmation it promises waits; a tick in the register is a claim, not a proof.
    (held,) = letters.held(manager)
    assert held.kind == "objection" and held.due == date(2026, 4, 2)
    with pytest.raises(ValidationError, match="No letters are waiting to be printed. 1 confirmation waits"):
        letters.print_batch(manager, tmp_path / "none.pdf")
    with pytest.raises(ValidationError, match="not yet confirmed in the clinical system"):
        letters.print_batch(manager, tmp_path / "none.pdf", letter_ids=[held.letter_id])
    event_id = patients.view(manager, pid).history[0].event_id
    objections.mark_coded(manager, event_id)
    assert letters.pending(manager) == [] and len(letters.held(manager)) == 1
    assert not (tmp_path / "none.pdf").exists()

    # A reconciliation finds the code in the clinical system's export: the confirmation prints.
    confirm(manager, pid)
    (ready,) = letters.pending(manager)
    assert ready.letter_id == held.letter_id and ready.kind == "objection" and letters.held(manager) == []
    change = letters.print_batch(manager, tmp_path / "confirmed.pdf")
    done = _flat(tmp_path / "confirmed.pdf")
    assert "Your objection to sharing your GP data is now in your GP record" in done
    assert "It is now in your GP record: we have checked that its code is there." in done
    assert "not yet in your GP record" not in done and "not in force yet" not in done
    _always_there(done)
    assert "acknowledgement" not in change.summary
    assert letters.pending(manager) == [] and letters.held(manager) == []
    kinds = [(row["kind"], row["sent_at"]) for row in patients.view(manager, pid).letters]
    assert kinds == [("objection_received", "2026-03-02"), ("objection", "2026-03-02")]


def test_confirmed_before_the_first_print_needs_one_letter_only(manager, add_patient, tmp_path):
    pid = add_patient(manager, surname="Quickly")
    objections.record(manager, pid)
    confirm(manager, pid)
    (waiting,) = letters.pending(manager)
    assert waiting.kind == "objection"
    letters.print_batch(manager, tmp_path / "one.pdf")
    assert "is now in your GP record" in _flat(tmp_path / "one.pdf")
    assert letters.pending(manager) == [] and letters.held(manager) == []
    assert [row["kind"] for row in patients.view(manager, pid).letters] == ["objection"]


def test_a_withdrawal_pending_says_the_objection_code_still_applies(manager, add_patient, tmp_path):
    pid = add_patient(manager, surname="Changing")
    objections.record(manager, pid, effective=date(2024, 1, 2), received=date(2024, 1, 2))
    confirm(manager, pid)
    letters.print_batch(manager, tmp_path / "first.pdf")  # the objection, confirmed
    objections.record(manager, pid, action="withdraw")
    letters.print_batch(manager, tmp_path / "withdrawal.pdf")
    text = _flat(tmp_path / "withdrawal.pdf")
    assert "We have received the withdrawal of your objection" in text
    assert "so any objection code already there still applies" in text and "is now in your GP record" not in text
    _always_there(text)
    confirm(manager, pid)
    letters.print_batch(manager, tmp_path / "withdrawn.pdf")
    text = _flat(tmp_path / "withdrawn.pdf")
    assert "The withdrawal of your objection is now in your GP record" in text
    _always_there(text)


def test_a_confirmation_no_longer_true_is_dropped_not_printed(manager, add_patient, tmp_path):
    pid = add_patient(manager, surname="Mindchange")
    objections.record(manager, pid, effective=date(2024, 1, 2), received=date(2024, 1, 2))
    letters.print_batch(manager, tmp_path / "ack.pdf")  # acknowledged; the confirmation is held
    objections.record(manager, pid, action="withdraw")  # withdrawn before it was ever coded
    confirm(manager, pid)  # the objection and the withdrawal found in the clinical system
    kinds = sorted(p.kind for p in letters.pending(manager))
    assert kinds == ["withdrawal"]  # the objection's confirmation would now be false: not offered
    letters.print_batch(manager, tmp_path / "after.pdf")
    text = _flat(tmp_path / "after.pdf")
    assert "The withdrawal of your objection is now in your GP record" in text
    assert "Your objection to sharing your GP data is now in your GP record" not in text
    assert [row["kind"] for row in patients.view(manager, pid).letters] == ["objection_received", "withdrawal"]


def test_a_child_under_13_is_told_the_opt_out_route_is_post_or_phone(manager, add_patient, tmp_path):
    _clock(manager, date(2026, 3, 2))
    parent = add_patient(manager, surname="Parent", forenames="Ceri", dob="1985-04-04")
    child = add_patient(manager, surname="Parent", forenames="Bryn", dob="2017-06-01")  # 8
    teen = add_patient(manager, surname="Older", forenames="Tal", dob="2012-03-01")  # 14: sets their own
    objections.record(manager, parent, dependants=[child])
    objections.record(manager, teen)
    letters.print_batch(manager, tmp_path / "out.pdf", split_dir=tmp_path / "split")
    family, older = (_flat(p) for p in sorted((tmp_path / "split").iterdir()))
    assert "Bryn Parent" in family and UNDER_13 in family and "From 13, young people set their own." in family
    assert "Tal Older" in older and UNDER_13 not in older
    _always_there(family)
    _always_there(older)


def test_a_confirmation_cannot_be_built_for_a_code_not_confirmed():
    with pytest.raises(ValidationError, match="only once every code it lists is confirmed"):
        LetterRequest("objection", "L-1", date(2026, 3, 2), recipient(), (item(coding_state="pending"),))
    with pytest.raises(ValidationError, match="only once every code"):
        LetterRequest("objection", "L-1", date(2026, 3, 2), recipient(),
                      (item(), item(name="B", coding_state="marked")))
    ack = LetterRequest("objection_received", "L-1", date(2026, 3, 2), recipient(), (item(coding_state="pending"),))
    assert ack.base_kind == "objection"


@pytest.mark.parametrize("kind", [k for k in KINDS if k != PRACTICE_WIDE_NOTICE])
def test_every_installed_letter_carries_the_promised_paragraphs(kind):
    # (The practice-wide notice is being reworded with the practice-wide coding lists.)
    text = " ".join(load_template(kind).source.split())
    # Someone who has left is told by their new practice, not by us.
    may_change = MAY_CHANGE.replace("we will", "your practice will") if kind == "transferred" else MAY_CHANGE
    for words in (DIRECT_CARE, NOT_STOPPED, may_change, "[if under13] " + UNDER_13):
        assert words in text, (kind, words)
    assert "recorded in your GP record" not in text and "stays in the practice" not in text


def test_rewording_that_drops_a_promise_is_saved_with_a_warning(manager):
    from gp_optout_desktop.services import templates

    source = load_template("objection").source
    kept = templates.save_template(manager, "objection", source.replace("Thank you for", "Thank you very much for"))
    assert kept.warnings == ()
    cut = source.replace(MAY_CHANGE, "").replace("[if under13] ", "")
    change = templates.save_template(manager, "objection", cut)
    (warning,) = change.warnings
    assert "Type 1 opt-outs may be discontinued" in warning and "[if under13]" in warning
    assert "direct care" not in warning  # still there
    saved = templates.current(manager, "objection").template  # saved all the same (as version 4)
    assert saved.version == 4 and MAY_CHANGE not in saved.source


def test_withdrawing_an_include_request_promises_no_confirmation(manager, add_patient, tmp_path):
    pid = add_patient(manager, surname="Includer")
    objections.record(manager, pid, kind="include", effective=date(2024, 1, 2), received=date(2024, 1, 2))
    confirm(manager, pid)
    letters.print_batch(manager, tmp_path / "include.pdf")
    objections.record(manager, pid, kind="include", action="withdraw")
    letters.print_batch(manager, tmp_path / "withdrawn.pdf")
    text = _flat(tmp_path / "withdrawn.pdf")
    assert "We have received your request" in text and "Where it shows no code" in text
    assert "No code: the practice-wide opt-out applies" in text
    # No code of its own will ever be found, so no confirmation waits for one.
    assert letters.held(manager) == [] and letters.pending(manager) == []
    kinds = [row["kind"] for row in patients.view(manager, pid).letters]
    assert kinds == ["include", "include_received"]
