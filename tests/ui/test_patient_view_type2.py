"""A patient with only a legacy Type 2: the view says their GP data is not withheld by it and
signposts the National Data Opt-out (issue 10 section 5); the 'recorded in error' letter is
refused for a Type 2 added on or before the cut-off."""

from __future__ import annotations

from datetime import date, datetime, timezone

from gp_optout_desktop.services import letters as letters_service
from gp_optout_desktop.services import objections
from gp_optout_desktop.services.session import Session
from gp_optout_desktop.ui import dialogs


def test_type2_only_is_readable_with_ndoo_signposting_and_no_error_letter(qtbot, desk, add_patient):
    session = desk.session
    pid = add_patient(session, surname="Legacytwo", forenames="Pat")
    on_cutoff = Session(session.register, session.user, session.role,
                        clock=lambda: datetime(2018, 10, 11, 12, tzinfo=timezone.utc))
    objections.record(on_cutoff, pid, "type2", effective=date(2016, 4, 1), received=date(2016, 4, 1), via="post")
    desk.desk.open_patient(pid)
    view = desk.desk.patient
    assert view.status_labels["type2"].text() == "Legacy Type 2 objection recorded, since 1 Apr 2016"
    # National extractions (the clinical-system code) and the practice's own extracts (the file).
    assert view.effect.text().startswith("Their GP data may be extracted from the practice: a legacy Type 2 "
                                         "objection never stopped that")
    words = view.local_effect.text()
    assert words.startswith("The practice's own extracts may include them. Legacy Type 2 objection only")
    assert "does not list them" in words and "National Data Opt-out" in words
    assert view.history.rowCount() == 1  # the history stays readable
    before = [p.kind for p in letters_service.pending(session) if p.patient_id == pid]
    dialogs.set_next_answer("Queue the letter")
    view.type2_letter_button.click()
    qtbot.waitUntil(lambda: "not recorded in error" in view.message.text(), timeout=5000)
    assert [p.kind for p in letters_service.pending(session) if p.patient_id == pid] == before
