"""The desk keeps working while a long task runs (issue 13, hazard H-56, ADR 0014): typing
gets results while a task holds the register's connection, and a patient opened and an
objection saved at the desk while letters are being printed are kept, beside the print.
No timings here: the figures are in benchmarks/bench_ui.py."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.letters import apart
from gp_optout_desktop.services import letters as letters_service, objections, patients
from gp_optout_desktop.ui import dialogs, worker
from gp_optout_desktop.ui.desk import DONE, PATIENT, RECORD


def _hold_the_register(session):
    """A task holding the register's connection in a write transaction until released."""
    held, release = threading.Event(), threading.Event()

    def task():
        with session.register.transaction():
            held.set()
            release.wait(60)

    thread = threading.Thread(target=task)
    thread.start()
    assert held.wait(10)
    return release, thread


def _finishes(fn, seconds=20.0):
    """fn() run on another thread: whether it finished (a wait for the register would not)."""
    out = {}
    thread = threading.Thread(target=lambda: out.setdefault("value", fn()))
    thread.start()
    thread.join(seconds)
    return not thread.is_alive(), out.get("value")


def test_typing_gets_results_while_a_task_holds_the_register(qtbot, desk, add_patient):
    add_patient(desk.session, surname="Duringtask", forenames="Dee")
    release, thread = _hold_the_register(desk.session)
    try:
        front = desk.desk.front
        qtbot.keyClicks(front.search, "Duringtas")
        qtbot.waitUntil(lambda: front.model.rowCount() == 1, timeout=10000)
        assert front.model.data(front.model.index(0, 1)) == "DURINGTASK, Dee"
        assert front.summary.text() == "1 patient found."
        qtbot.keyClicks(front.search, "kz")  # the newest text wins: the answer to it replaces the row
        qtbot.waitUntil(lambda: front.summary.text() == "No patient found.", timeout=10000)
        assert front.model.rowCount() == 0 and front.model.query == "Duringtaskz"
    finally:
        release.set()
        thread.join()


def test_enter_before_the_answer_searches_what_is_typed(qtbot, desk, add_patient):
    pid = add_patient(desk.session, surname="Enterfirst", forenames="Eve")
    front = desk.desk.front
    front.search.setText("Enterfirs")
    front.refresh()  # a search on its way for the older text ...
    qtbot.keyClicks(front.search, "t")
    qtbot.keyClick(front.search, Qt.Key.Key_Return)  # ... Enter searches "Enterfirst" at once and opens
    assert desk.desk.currentIndex() == PATIENT and desk.desk.patient.patient_id == pid
    assert front._lane.wait(10000)  # noqa: SLF001 - the older search has answered by now ...
    QApplication.processEvents()
    assert desk.desk.currentIndex() == PATIENT  # ... and its answer, arriving late, changed nothing
    assert front.model.query == "Enterfirst"


def test_a_save_at_the_desk_while_letters_print_is_kept(qtbot, window, unlock_as, add_patient, monkeypatch,
                                                       tmp_path):
    session = unlock_as(window, "manager")
    waiting = letters_service.pending(session)
    assert waiting, "the demo register has letters waiting"
    pid = add_patient(session, surname="Savewhileprint", forenames="Sam")
    rendering, go_on = threading.Event(), threading.Event()
    real_render = apart.render_bytes

    def render_when_told(*args, **kwargs):  # the real renderer, held at its start by the test
        rendering.set()
        assert go_on.wait(60)
        return real_render(*args, **kwargs)

    monkeypatch.setattr(apart, "render_bytes", render_when_told)
    answers = []
    worker.run(lambda: letters_service.print_batch(session, tmp_path / "batch.pdf"), answers.append, answers.append)
    qtbot.waitUntil(rendering.is_set, timeout=20000)
    try:
        # While the letters render, the register is free: the audited read that opens a record finishes.
        finished, record = _finishes(lambda: patients.view(session, pid))
        assert finished and record.patient.patient_id == pid
        desk = window.desk
        desk.open_patient(pid)
        assert desk.currentIndex() == PATIENT
        desk.record_objection(pid)
        assert desk.currentIndex() == RECORD
        dialogs.set_next_answer("Record")
        desk.record.save_button.click()
        assert desk.currentIndex() == DONE, desk.record.general.text()
    finally:
        go_on.set()
    qtbot.waitUntil(lambda: bool(answers), timeout=60000)
    changes = answers[0]
    assert not isinstance(changes, BaseException), changes
    printed = set(changes.letter_ids)
    assert printed == {letter.letter_id for letter in waiting}  # what was waiting when the print began
    assert (tmp_path / "batch.pdf").stat().st_size > 0
    record = patients.view(session, pid)
    assert record.statuses["type1"].active  # the save is kept beside the print
    assert len(record.letters) == 1 and record.letters[0]["sent_at"] is None  # its letter waits for the next run
    assert all(letter.letter_id not in printed for letter in letters_service.pending(session))


def _refused_as_changed(session, out) -> None:
    """A print run refused because its letters changed while rendering, leaving no PDF."""
    with pytest.raises(ValidationError, match="changed while they were being printed"):
        letters_service.print_batch(session, out)
    assert not out.exists()


def test_a_print_whose_letters_changed_meanwhile_marks_nothing_and_leaves_no_pdf(demo, monkeypatch, tmp_path):
    waiting = letters_service.pending(demo)
    first = waiting[0].letter_id
    real_render = apart.render_bytes

    def sent_elsewhere_meanwhile(*args, **kwargs):  # another window marks one of them sent while this renders
        finished, _ = _finishes(lambda: letters_service.mark_sent(demo, [first], demo.today()))
        assert finished
        return real_render(*args, **kwargs)

    monkeypatch.setattr(apart, "render_bytes", sent_elsewhere_meanwhile)
    _refused_as_changed(demo, tmp_path / "batch.pdf")
    still = {letter.letter_id for letter in letters_service.pending(demo)}
    assert still == {letter.letter_id for letter in waiting} - {first}  # nothing else was marked sent


def test_a_print_whose_patient_moved_meanwhile_marks_nothing_and_leaves_no_pdf(demo, monkeypatch, tmp_path):
    """An address corrected at the desk while the letters render: the PDF holds the old one,
    so it must not be recorded as sent (it prints again, to the new address)."""
    waiting = letters_service.pending(demo)
    patient_id = waiting[0].patient_id
    real_render = apart.render_bytes

    def moved_meanwhile(*args, **kwargs):
        p = patients.view(demo, patient_id).patient
        finished, changes = _finishes(lambda: patients.edit(
            demo, patient_id, surname=p.surname, forenames=p.forenames, dob=p.dob, postcode_raw=p.postcode,
            nhs=p.nhs_number, title=p.title, address=("2 New Street", "Leeds")))
        assert finished and changes.data["changed"] == ("address",)
        return real_render(*args, **kwargs)

    monkeypatch.setattr(apart, "render_bytes", moved_meanwhile)
    _refused_as_changed(demo, tmp_path / "batch.pdf")
    assert {letter.letter_id for letter in letters_service.pending(demo)} == {letter.letter_id for letter in waiting}


def test_overview_and_export_snapshot_do_not_wait_for_the_register(demo, add_patient):
    from gp_optout_desktop.services import exclusion, overview

    pid = add_patient(demo, surname="Committedfirst")
    objections.record(demo, pid)
    release, thread = _hold_the_register(demo)
    try:
        finished, counts = _finishes(lambda: overview.overview(demo))
        assert finished and counts.patients == 301
        finished, snap = _finishes(lambda: exclusion.snapshot(demo))
        assert finished and snap.expected_count == len(snap.rows) and snap.rows
    finally:
        release.set()
        thread.join()


def test_open_and_save_refuse_at_once_in_words_while_a_task_holds_the_register(qtbot, desk, add_patient):
    """An import or a backup's copy holds the register's connection: Open and Save at the desk
    say so at once instead of freezing the window until the task ends (H-56), and change
    nothing; once it ends they work."""
    pid = add_patient(desk.session, surname="Waitingroom", forenames="Wyn")
    screen = desk.desk
    release, thread = _hold_the_register(desk.session)
    try:
        screen.open_patient(pid)  # returns while the register is still held: it did not wait for the task
        assert screen.currentIndex() != PATIENT
        assert "busy with a long task" in screen.front.summary.text()  # said on the search page, where they are
    finally:
        release.set()
        thread.join()
    screen.open_patient(pid)
    assert screen.currentIndex() == PATIENT and screen.patient.patient_id == pid
    screen.record_objection(pid)
    assert screen.currentIndex() == RECORD
    release, thread = _hold_the_register(desk.session)
    try:
        screen.record.save_button.click()  # refused before the read-back: nothing to confirm
        assert screen.currentIndex() == RECORD
        assert "busy with a long task" in screen.record.general.text()
        assert "Nothing was changed" in screen.record.general.text()
    finally:
        release.set()
        thread.join()
    assert not patients.view(desk.session, pid).statuses["type1"].active  # nothing was recorded
    dialogs.set_next_answer("Record")
    screen.record.save_button.click()
    assert screen.currentIndex() == DONE, screen.record.general.text()
    assert patients.view(desk.session, pid).statuses["type1"].active


def test_open_and_save_at_the_desk_while_a_reconciliation_compares(qtbot, window, unlock_as, add_patient,
                                                                    monkeypatch, tmp_path):
    """The comparison reads a snapshot of its own: the desk opens a record, saves an objection and
    gets search results meanwhile; the run then compares again against the newer register."""
    from gp_optout_desktop.services import reconcile

    session = unlock_as(window, "manager")
    pid = add_patient(session, surname="Whilecompared", forenames="Wendy")
    other = patients.view(session, add_patient(session, surname="Coded", forenames="Cora")).patient
    export = tmp_path / "export.csv"  # one Type 1 code the register does not hold: (b)
    export.write_text("NHS Number,Surname,Forename,Date of Birth,Postcode,SNOMED Code,Event Date\r\n"
                      f"{other.nhs_number},Coded,Cora,{other.dob:%d/%m/%Y},{other.postcode},827241000000103,"
                      "01/10/2026\r\n", encoding="utf-8")
    comparing, go_on, plans = threading.Event(), threading.Event(), []
    real_plan = reconcile._plan  # noqa: SLF001

    def held_plan(*args):
        try:
            plans.append(real_plan(*args))
        finally:
            comparing.set()
        if len(plans) == 1:
            assert go_on.wait(60)
        return plans[-1]

    monkeypatch.setattr(reconcile, "_plan", held_plan)
    from gp_optout_desktop import child_task

    child_task.enable(False)  # the held comparison lives in this process (the app would spawn one)
    answers = []
    worker.run(lambda: reconcile.reconcile(session, export), answers.append, answers.append)
    qtbot.waitUntil(comparing.is_set, timeout=60000)
    try:
        desk = window.desk
        qtbot.keyClicks(desk.front.search, "Whilecompare")
        qtbot.waitUntil(lambda: desk.front.model.rowCount() == 1, timeout=10000)
        desk.open_patient(pid)
        assert desk.currentIndex() == PATIENT
        desk.record_objection(pid)
        dialogs.set_next_answer("Record")
        desk.record.save_button.click()
        assert desk.currentIndex() == DONE, desk.record.general.text()
    finally:
        go_on.set()
    qtbot.waitUntil(lambda: bool(answers), timeout=60000)
    result = answers[0]
    assert not isinstance(result, BaseException), result
    assert len(plans) == 2  # the first snapshot was overtaken by the save: compared again
    assert ("a", patients.view(session, pid).patient.nhs_number) in {(i.category, i.nhs) for i in result.items}
