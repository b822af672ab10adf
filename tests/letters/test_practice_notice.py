"""The practice-wide opt-out notice: queued once to each patient aged 16 or over (never one per
household) while the opt-out is on,
through a real encrypted register, and printed through the ordinary batch."""

from __future__ import annotations

import pytest

from gp_optout_desktop import cli
from gp_optout_desktop.domain import roles
from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.services import audit, exclusion, letters, session as session_service, users
from gp_optout_desktop.services.objections import one_calendar_month_after

from .helpers import pdf_text

HOME_A = ["Flat 2, Tŷ Gwyn", "5 Ffordd yr Orsaf"]
HOME_B = ["7 Church Lane"]


def _as_gp(manager, register_dir, fn):
    """Run ``fn(gp_session)`` as a GP (only a GP may change the practice-wide opt-out), then
    return the manager's session, unlocked again."""
    if not getattr(manager, "_gp_added", False):
        users.add(manager, "drgp", roles.GP, "gp-password-1")
    manager.lock()
    gp = session_service.unlock(register_dir, "drgp", "gp-password-1")
    try:
        fn(gp)
    finally:
        gp.lock()
    pm = session_service.unlock(register_dir, "pm", "pm-password-1")
    pm._gp_added = True
    return pm


def _turn(manager, register_dir, state):
    return _as_gp(manager, register_dir,
                  lambda gp: exclusion.set_practice_optout(gp, state, f"Practice meeting decided {state}"))


def _flat(path) -> str:
    return " ".join("".join(pdf_text(path)).split())


@pytest.fixture
def households(manager, add_patient):
    """Three households: A (three people, the eldest born 1950), B (two), C (one, no address lines)."""
    ids = {
        "a_child": add_patient(manager, surname="Jones", forenames="Tomos", dob="2014-06-01", postcode="LL30 1AA",
                               address=HOME_A),
        "a_eldest": add_patient(manager, surname="O'Brien-Ŵyn", forenames="Siân", title="Mrs", dob="1950-02-03",
                                postcode="LL30 1AA", address=HOME_A),
        "a_parent": add_patient(manager, surname="Jones", forenames="Megan", dob="1982-09-09", postcode="LL30 1AA",
                                address=HOME_A),
        "b_one": add_patient(manager, surname="Evans", forenames="Ifan", dob="1975-01-01", postcode="LS1 4AP",
                             address=HOME_B),
        "b_two": add_patient(manager, surname="Evans", forenames="Lowri", dob="1976-01-01", postcode="ls14ap",
                             address=HOME_B),
        "c_alone": add_patient(manager, surname="Single", forenames="Sam", dob="1990-01-01", postcode="LS1 4AP"),
    }
    return ids


def _notices(session):
    return [q for q in letters.pending(session) if q.kind == "practice_wide_notice"]


def test_refused_while_the_practice_wide_opt_out_is_off(manager, register_dir, households):
    with pytest.raises(ValidationError, match="practice-wide opt-out is not on"):
        letters.queue_practice_wide_notice(manager)
    assert _notices(manager) == []
    # Turned on and then off again: still refused, nothing queued.
    pm = _turn(manager, register_dir, "on")
    pm = _turn(pm, register_dir, "off")
    try:
        with pytest.raises(ValidationError, match="not on"):
            letters.queue_practice_wide_notice(pm)
        assert _notices(pm) == []
    finally:
        pm.lock()


def test_one_notice_to_each_patient_aged_16_or_over_audited_once(manager, register_dir, households):
    pm = _turn(manager, register_dir, "on")
    try:
        change = letters.queue_practice_wide_notice(pm)
        assert change.data["count"] == 5 and "Queued 5 practice-wide opt-out notices" in change.summary
        assert "one to each patient aged 16 or over" in change.summary
        queued = _notices(pm)
        # Not one per household (that tells each adult who else is registered there); not the child.
        assert sorted(q.patient_id for q in queued) == sorted(v for k, v in households.items() if k != "a_child")
        assert {q.due for q in queued} == {one_calendar_month_after(pm.today())}
        # One audit row with the count, not one per patient (the patients' own rows are 'patient.*').
        queue_rows = audit.query(pm, action="letter.")
        assert [r.action for r in queue_rows] == ["letter.queue_practice_wide"]
        assert "letters=5" in queue_rows[0].detail and queue_rows[0].patient == ""
    finally:
        pm.lock()


def test_not_queued_twice_only_new_households_and_again_after_a_new_turn_on(manager, register_dir, add_patient,
                                                                           households, tmp_path):
    pm = _turn(manager, register_dir, "on")
    letters.queue_practice_wide_notice(pm)
    again = letters.queue_practice_wide_notice(pm)
    assert again.data["count"] == 0 and "already had" in again.summary
    assert len(_notices(pm)) == 5
    # A baby joins household B: nothing (under 16); a new adult: one more.
    add_patient(pm, surname="Evans", forenames="Baby", dob="2024-01-01", postcode="LS1 4AP", address=HOME_B)
    newcomer = add_patient(pm, surname="Newhome", forenames="Nia", dob="1999-01-01", postcode="LS2 9JT",
                           address=["3 New Street"])
    third = letters.queue_practice_wide_notice(pm)
    assert third.data["count"] == 1
    assert [q.patient_id for q in _notices(pm)].count(newcomer) == 1
    # Printed and sent: still counted as told while the opt-out stays on.
    letters.print_batch(pm, tmp_path / "sent.pdf")
    assert letters.queue_practice_wide_notice(pm).data["count"] == 0
    # Turned off and on again: every household is told afresh.
    pm = _turn(pm, register_dir, "off")
    pm = _turn(pm, register_dir, "on")
    try:
        assert letters.queue_practice_wide_notice(pm).data["count"] == 6
    finally:
        pm.lock()


def test_printed_notice_explains_how_to_ask_to_be_included(manager, register_dir, households, tmp_path):
    pm = _turn(manager, register_dir, "on")
    try:
        letters.queue_practice_wide_notice(pm)
        ids = [q.letter_id for q in _notices(pm)]
        out = tmp_path / "notices.pdf"
        change = letters.print_batch(pm, out, letter_ids=ids, split_dir=tmp_path / "split")
        assert "Printed 5 letters" in change.summary
        text = _flat(out)
        today = pm.today()
        for expected in ("Mrs Siân O'Brien-Ŵyn", "Flat 2, Tŷ Gwyn", "LL30 1AA", "Dear Mrs O'Brien-Ŵyn,",
                         "Dear Ifan Evans,", "Dear Sam Single,",
                         f"From {today.day} {today:%B %Y}, we will add the code for a Type 1 objection",
                         "The GPs' reason: Practice meeting decided on", "Your options",
                         "tell us in person, by post, by email or by phone that you want to be included",
                         "every patient of Test Surgery aged 16 or over", "This letter is about you only",
                         "may be discontinued in future", "safeguarding",
                         "Template practice_wide_notice v3", "Test Surgery"):
            assert expected in text, expected
        # One letter per patient: nothing about a household or who else lives there; no claim about the law.
        for unwanted in ("To the household at", "household", "lives at your address", "law allows"):
            assert unwanted not in text, unwanted
        # The split files carry the same letters, one each.
        split = sorted((tmp_path / "split").iterdir())
        assert len(split) == 5
        assert "that you want to be included" in " ".join("".join(pdf_text(split[0])).split())
        assert _notices(pm) == []
        prints = [r for r in audit.query(pm, action="letter.print")]
        assert len(prints) == 5 and all("kind=practice_wide_notice" in r.detail for r in prints)
    finally:
        pm.lock()


def test_only_the_practice_manager_may_queue_the_notice(manager, register_dir, households):
    pm = _turn(manager, register_dir, "on")
    pm.lock()
    gp = session_service.unlock(register_dir, "drgp", "gp-password-1")
    try:
        with pytest.raises(PermissionError):
            letters.queue_practice_wide_notice(gp)
    finally:
        gp.lock()


def test_cli_notify_practice_wide(manager, register_dir, households, monkeypatch, capsys):
    pm = _turn(manager, register_dir, "on")
    pm.lock()
    monkeypatch.setenv("GP_OPTOUT_REGISTER", str(register_dir))
    monkeypatch.setenv("GP_OPTOUT_PASSWORD", "pm-password-1")
    assert cli.main(["--user", "pm", "letters", "notify-practice-wide"]) == 0
    out = capsys.readouterr().out
    assert "Queued 5 practice-wide opt-out notices" in out
    assert cli.main(["--user", "pm", "letters", "notify-practice-wide"]) == 0
    assert "already had" in capsys.readouterr().out
    assert cli.main(["--user", "pm", "letters", "pending"]) == 0
    assert "5 waiting" in capsys.readouterr().out


def test_turning_it_off_takes_unprinted_notices_off_the_queue(manager, register_dir, add_patient, households,
                                                               tmp_path):
    pm = _turn(manager, register_dir, "on")
    letters.queue_practice_wide_notice(pm)
    first = _notices(pm)[0]
    letters.print_batch(pm, tmp_path / "one.pdf", letter_ids=[first.letter_id])  # one already posted
    objections_before = [q for q in letters.pending(pm) if q.kind != "practice_wide_notice"]
    said = []
    pm = _as_gp(pm, register_dir,
                lambda gp: said.append(exclusion.set_practice_optout(gp, "off", "Lifted at the partners' meeting")))
    try:
        assert "4 practice-wide opt-out notices not yet printed were taken off" in said[0].summary
        assert _notices(pm) == []  # a waiting notice would describe an opt-out that no longer applies
        assert [q for q in letters.pending(pm) if q.kind != "practice_wide_notice"] == objections_before
        (off_row,) = audit.query(pm, action="practice_optout.off")
        assert "notices_cancelled=4" in off_row.detail
        from gp_optout_desktop.services import patients

        sent = [r for r in patients.view(pm, first.patient_id).letters if r["kind"] == "practice_wide_notice"]
        assert len(sent) == 1 and sent[0]["sent_at"]  # the one posted stays on the patient's record
    finally:
        pm.lock()
