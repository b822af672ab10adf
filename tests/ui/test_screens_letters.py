"""Letters screen: the queue with overdue letters highlighted; print a batch to a PDF file and to
a printer (read back with pypdf); preview; mark sent; reprint; refused to other roles."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pypdf import PdfReader
from PySide6.QtCore import Qt
from PySide6.QtPrintSupport import QPrinter

from gp_optout_desktop.domain import roles
from gp_optout_desktop.services import audit as audit_service, letters as letters_service
from gp_optout_desktop.services.letters import PendingLetter, reference
from gp_optout_desktop.ui import dialogs
from gp_optout_desktop.ui.bus import ChangeBus
from gp_optout_desktop.ui.models.letters_model import OVERDUE, LettersModel, deadline_words
from gp_optout_desktop.ui.screens import SCREENS, _paths, _printing, letters as letters_screen
from tests.ui.helpers import wait_idle


@pytest.fixture
def screen(qtbot, demo):
    widget = letters_screen.create(lambda: demo, ChangeBus())
    qtbot.addWidget(widget)
    widget.resize(1300, 700)
    widget.show()
    wait_idle(qtbot, widget)
    return widget


def select(screen, rows):
    screen.table.clearSelection()
    flags = screen.table.selectionModel().SelectionFlag
    for r in rows:
        screen.table.selectionModel().select(screen.model.index(r, 0), flags.Select | flags.Rows)


def pdf_text(path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(str(path)).pages)


def test_model_words_and_overdue_highlight():
    today = date(2026, 3, 1)
    late = PendingLetter(7, "objection", "Objection confirmation", 1, "Ms A Test", "999 000 0018",
                         today - timedelta(days=40), today - timedelta(days=9), -9)
    soon = PendingLetter(8, "withdrawal", "Withdrawal confirmation", 2, "Mr B Test", "not known", today, today, 0)
    model = LettersModel()
    model.set_rows([late, soon])
    assert model.index(0, 0).data() == "L000007" and model.index(0, 6).data() == "OVERDUE 9 days"
    assert model.index(0, 0).data(Qt.ForegroundRole) == OVERDUE and model.index(0, 0).data(Qt.FontRole).bold()
    assert model.index(1, 6).data() == "Due today" and model.overdue_count() == 1
    assert deadline_words(1) == "1 day left" and deadline_words(-1) == "OVERDUE 1 day"


def test_queue_matches_the_register(screen, demo):
    pending = letters_service.pending(demo)
    assert pending and screen.model.rowCount() == len(pending)
    assert [screen.model.letter_at(r).letter_id for r in range(len(pending))] == [p.letter_id for p in pending]
    overdue = sum(p.overdue for p in pending)
    assert f"{len(pending)} letters waiting" in screen.summary.text()
    assert ("OVERDUE" in screen.summary.text()) == bool(overdue)
    assert screen.pdf_button.text() == f"Print all {len(pending)} to &PDF…"
    select(screen, [0])
    assert screen.pdf_button.text() == "Print 1 selected to &PDF…"


def test_print_selected_to_pdf_then_preview_and_register_marks_them_sent(qtbot, screen, demo, tmp_path):
    before = letters_service.pending(demo)
    chosen = [before[0].letter_id, before[1].letter_id]
    select(screen, [0, 1])
    out = tmp_path / "batch.pdf"
    _paths.set_next_path(out)
    screen.pdf_button.click()
    wait_idle(qtbot, screen)
    assert "Printed 2 letters" in screen.status.text(), screen.status.text()
    text = pdf_text(out)
    for letter_id in chosen:
        assert reference(letter_id) in text
    pages = len(PdfReader(str(out)).pages)
    assert screen.preview.document.pageCount() == pages and f"{pages} pages" in screen.preview.caption.text()
    after = {p.letter_id for p in letters_service.pending(demo)}
    assert not after & set(chosen) and len(after) == len(before) - 2
    qtbot.waitUntil(lambda: screen.model.rowCount() == len(before) - 2)
    prints = audit_service.query(demo, action="letter.print")
    assert {f"letter={i}" in " ".join(r.detail for r in prints) for i in chosen} == {True}


def test_print_to_a_printer_paints_the_same_pages(qtbot, screen, demo, tmp_path):
    before = letters_service.pending(demo)
    select(screen, [0])
    printed = tmp_path / "printer-output.pdf"
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(str(printed))
    printer.setResolution(150)
    _printing.set_next_printer(printer)
    screen.printer_button.click()
    wait_idle(qtbot, screen)
    assert "Printed 1 letter" in screen.status.text(), screen.status.text()
    reader = PdfReader(str(printed))
    assert len(reader.pages) == screen.preview.document.pageCount() >= 1
    assert all(len(page.images) == 1 for page in reader.pages)  # each letter page painted as one bitmap
    assert before[0].letter_id not in {p.letter_id for p in letters_service.pending(demo)}
    scratch = screen._scratch
    assert scratch is not None and scratch.exists()
    screen.clear()  # locking removes the private copy of the printed letters
    assert not scratch.exists()


def test_cancelled_print_dialog_prints_and_marks_nothing(qtbot, screen, demo):
    before = letters_service.pending(demo)
    _printing.set_next_printer(None)
    screen.printer_button.click()
    wait_idle(qtbot, screen)
    assert len(letters_service.pending(demo)) == len(before)


def test_mark_sent_after_confirmation(qtbot, screen, demo):
    before = letters_service.pending(demo)
    select(screen, [0])
    dialogs.set_next_answer("Cancel")
    screen.mark_button.click()
    assert len(letters_service.pending(demo)) == len(before)
    dialogs.set_next_answer("Mark sent")
    screen.mark_button.click()
    wait_idle(qtbot, screen)
    assert "Marked 1 letter sent" in screen.status.text()
    assert before[0].letter_id not in {p.letter_id for p in letters_service.pending(demo)}


def test_reprint_by_nhs_number(qtbot, screen, demo, tmp_path):
    first = letters_service.pending(demo)[0]
    letters_service.mark_sent(demo, [first.letter_id], date.today())
    screen.reprint_nhs.setText(first.nhs_display)
    out = tmp_path / "again.pdf"
    _paths.set_next_path(out)
    screen.reprint_button.click()
    wait_idle(qtbot, screen)
    assert f"Reprinted letter {reference(first.letter_id)}" in screen.status.text(), screen.status.text()
    assert reference(first.letter_id) in pdf_text(out)
    assert screen.preview.caption.text().startswith("Reprint")


def test_letters_screen_hidden_from_and_refused_to_other_roles(demo, tmp_path):
    spec = next(s for s in SCREENS if s.title == letters_screen.TITLE)
    assert spec.permission == "print_letters"
    assert [r for r in roles.ROLES if roles.allowed(r, spec.permission)] == [roles.MANAGER]
    some = letters_service.pending(demo)[0].letter_id
    for role in (roles.RECEPTIONIST, roles.GP):
        demo.role = role
        with pytest.raises(PermissionError):
            letters_service.print_batch(demo, tmp_path / "x.pdf")
        with pytest.raises(PermissionError):
            letters_service.mark_sent(demo, [some], date.today())
    assert not (tmp_path / "x.pdf").exists()


def test_practice_wide_notice_is_queued_from_the_letters_screen(screen, demo, register_dir, qtbot):
    from gp_optout_desktop.services import exclusion, session as session_service, users

    notices = lambda: [p for p in letters_service.pending(demo) if p.kind == "practice_wide_notice"]
    # Off: the service refuses and the screen says why.
    dialogs.set_next_answer("Queue the notices")
    screen.notice_button.click()
    wait_idle(qtbot, screen)
    assert "not on" in screen.status.text() and notices() == []
    # A GP turns it on; the manager queues the notice: one letter to each patient aged 16 or over.
    users.add(demo, "doc", roles.GP, "doc-password-1")
    gp = session_service.unlock(register_dir, "doc", "doc-password-1")
    exclusion.set_practice_optout(gp, "on", "Partners' decision")
    gp.lock()
    dialogs.set_next_answer("Queue the notices")
    screen.notice_button.click()
    wait_idle(qtbot, screen)
    queued = notices()
    assert queued and screen.model.rowCount() == len(letters_service.pending(demo))
    assert any(r.action == "letter.queue_practice_wide" for r in audit_service.query(demo, action="letter.queue"))


def test_preview_shows_the_pages_and_marks_nothing_sent(qtbot, screen, demo, tmp_path):
    before = letters_service.pending(demo)
    select(screen, [0, 1])
    assert screen.preview_button.text() == "Pre&view 2 selected"
    screen.preview_button.click()
    wait_idle(qtbot, screen)
    assert "nothing marked sent" in screen.status.text(), screen.status.text()
    # The pages are the ones printing would produce: same count as the printed PDF below.
    previewed = screen.preview.document.pageCount()
    assert previewed >= 2 and "Preview of 2 letters" in screen.preview.caption.text()
    assert not screen.preview.print_button.isEnabled()  # printing goes through Print, which marks sent
    assert [p.letter_id for p in letters_service.pending(demo)] == [p.letter_id for p in before]
    reads = audit_service.query(demo, action="letter.preview")
    assert {f"letter={before[i].letter_id}" in " ".join(r.detail for r in reads) for i in (0, 1)} == {True}
    out = tmp_path / "batch.pdf"
    _paths.set_next_path(out)
    screen.pdf_button.click()
    wait_idle(qtbot, screen)
    assert len(PdfReader(str(out)).pages) == previewed
    screen.clear()
    assert screen.preview.document.pageCount() == 0 and screen.preview._buffer is None
