"""Screens beyond the front desk on a server register (ADR 0015 addendum): the real main window,
signed in as a practice manager on the real PostgreSQL the tests start, driving the real Audit
trail and Letters screens over objections recorded through the services."""

from __future__ import annotations

import csv

import pytest
from PySide6.QtWidgets import QLabel

from gp_optout_desktop.domain import nhs_number, roles
from gp_optout_desktop.services import objections, patients, server_session
from gp_optout_desktop.ui.main_window import MainWindow
from gp_optout_desktop.ui.screens import _paths
from tests.server import accounts
from tests.ui.helpers import wait_idle

pytestmark = pytest.mark.server


@pytest.fixture
def server(pg_db):
    reg = accounts.Register(pg_db)
    reg.mo = reg.add_user("mo", "mo-password-1", roles.MANAGER)
    reg.manager = server_session.sign_in(accounts.address(pg_db), reg.mo, "mo-password-1")
    yield reg
    reg.manager.lock()
    reg.close()


def _window(qtbot, settings, pg_db) -> MainWindow:
    """The desk window on the test server, showing its sign-in."""
    window = MainWindow(None, settings, server=accounts.address(pg_db))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def _signed_in(qtbot, settings, pg_db, user: str, password: str) -> MainWindow:
    window = _window(qtbot, settings, pg_db)
    window.unlock.user.setText(user)
    window.unlock.password.setText(password)
    window.unlock.submit()
    qtbot.waitUntil(lambda: window.session is not None, timeout=30000)
    qtbot.waitUntil(window.screens_ready)
    return window


def _screen(qtbot, window, title: str):
    titles = [window.nav.item(i).text() for i in range(window.nav.count())]
    window.nav.setCurrentRow(titles.index(title))
    screen = window.screens.currentWidget()
    assert not isinstance(screen, QLabel), screen.text()  # built, not the "not available" sentence
    wait_idle(qtbot, screen)
    return screen


def _objectors(server, count: int, start: int) -> list[tuple[int, str]]:
    made = []
    for i in range(count):
        number = nhs_number.synthetic(start + i)
        pid = patients.add(server.manager, surname=f"Screen{i}", forenames="Sally", dob="1970-01-01",
                           postcode_raw="LS1 4AP", nhs=number).data["patient_id"]
        objections.record(server.manager, pid)
        made.append((pid, number))
    return made


def test_a_manager_filters_verifies_and_exports_the_audit_trail_on_the_server(qtbot, settings, pg_db, server,
                                                                               tmp_path):
    (_pid, number), _other = _objectors(server, 2, 740_000)
    window = _signed_in(qtbot, settings, pg_db, server.mo, "mo-password-1")
    screen = _screen(qtbot, window, "Audit trail")
    assert screen.model.rowCount() > 0 and screen.status.text() == ""
    assert {r.action for r in screen.model.rows} >= {"patient.create", "type1.register", "login"}

    screen.patient.setText(number)
    screen.action.setCurrentIndex([screen.action.itemText(i) for i in range(screen.action.count())]
                                  .index("Type 1 objections"))
    screen.apply_button.click()
    wait_idle(qtbot, screen)
    assert screen.status.text() == ""
    shown = screen.model.rows
    assert len(shown) == 1 and shown[0].patient == number and shown[0].action == "type1.register"
    assert screen.count_label.text() == "1 entries shown, newest first."

    screen.verify_button.click()
    wait_idle(qtbot, screen)
    assert screen.verify_result.text().startswith("The audit trail is intact: "), screen.status.text()

    target = tmp_path / "audit.csv"
    _paths.set_next_path(target)
    screen.export_button.click()
    wait_idle(qtbot, screen)
    assert screen.status.text().startswith("Exported 1 entries to "), screen.status.text()
    with open(target, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][:3] == ["seq", "at_utc", "user"] and len(rows) == 2
    assert rows[1][4] == "type1.register" and rows[1][5] == number
    actions = [r[3] for r in server.audit()]
    assert "audit.export" in actions and "audit.verify" in actions
    window.lock()


def _confirm(server, patient_id: int) -> None:
    """The patient's objection confirmed in the clinical system (as tests/services/conftest.py
    backend.confirm does on the server: reconciliation is not ported), so it is in force."""
    session = server.manager
    desk = session.desk
    with desk.write() as tx:
        done = [e.event_id for e in desk.history(patient_id) if e.confirmed_at is None]
        for event_id in done:
            tx.conn.execute("INSERT INTO event_marks(event_id, mark, at, by) VALUES (%s, 'confirmed', %s, %s)",
                            (event_id, session.now(), "reconciliation test"))
        tx.patients.add(patient_id)
        tx.audit("event.confirmed", desk.keys.audit_ref(desk.get_patient(patient_id).nhs_number, patient_id),
                 detail=f"events={len(done)} test")


def _select(screen, rows) -> None:
    screen.table.clearSelection()
    flags = screen.table.selectionModel().SelectionFlag
    for r in rows:
        screen.table.selectionModel().select(screen.model.index(r, 0), flags.Select | flags.Rows)


def _pdf_text(path) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(str(path)).pages)


def test_a_manager_runs_the_letters_screen_on_the_server(qtbot, settings, pg_db, server, tmp_path):
    from gp_optout_desktop.letters.templates import load_template
    from gp_optout_desktop.services import letters as letters_service
    from gp_optout_desktop.ui import dialogs

    made = _objectors(server, 3, 750_000)
    _confirm(server, made[2][0])  # one objection in force: the policy-change letter's audience
    window = _signed_in(qtbot, settings, pg_db, server.mo, "mo-password-1")
    screen = _screen(qtbot, window, "Letters")
    pending = letters_service.pending(server.manager)
    assert screen.status.text() == "" and len(pending) >= 3
    assert [screen.model.letter_at(r).letter_id for r in range(screen.model.rowCount())] == [p.letter_id for p in pending]
    assert f"{len(pending)} letters waiting" in screen.summary.text()

    _select(screen, [0])  # preview: the pages as they would print, nothing marked
    screen.preview_button.click()
    wait_idle(qtbot, screen)
    assert screen.preview.document.pageCount() >= 1, screen.status.text()
    assert len(letters_service.pending(server.manager)) == len(pending)

    first = screen.model.letter_at(0)
    out = tmp_path / "batch.pdf"
    _paths.set_next_path(out)
    screen.pdf_button.click()
    wait_idle(qtbot, screen)
    assert "Printed 1 letter" in screen.status.text(), screen.status.text()
    assert letters_service.reference(first.letter_id) in _pdf_text(out)
    assert screen.preview.document.pageCount() >= 1 and "Printed and marked sent" in screen.preview.caption.text()
    qtbot.waitUntil(lambda: screen.model.rowCount() == len(pending) - 1)

    second = screen.model.letter_at(0)
    _select(screen, [0])
    dialogs.set_next_answer("Mark sent")
    screen.mark_button.click()
    wait_idle(qtbot, screen)
    assert screen.status.text().startswith("Marked 1 letter"), screen.status.text()
    left = {p.letter_id for p in letters_service.pending(server.manager)}
    assert first.letter_id not in left and second.letter_id not in left and len(left) == len(pending) - 2
    qtbot.waitUntil(lambda: screen.model.rowCount() == len(pending) - 2)

    from PySide6.QtPrintSupport import QPrinter

    from gp_optout_desktop.ui.screens import _printing

    third = screen.model.letter_at(0)
    _select(screen, [0])
    printed = tmp_path / "printer-output.pdf"
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(str(printed))
    printer.setResolution(150)
    _printing.set_next_printer(printer)
    screen.printer_button.click()
    wait_idle(qtbot, screen)
    assert "Printed 1 letter" in screen.status.text(), screen.status.text()
    assert printed.exists() and "Sent to the printer" in screen.preview.caption.text()
    assert third.letter_id not in {p.letter_id for p in letters_service.pending(server.manager)}

    number = next(n for pid, n in made if pid == first.patient_id)
    again = tmp_path / "reprint.pdf"
    screen.reprint_nhs.setText(number)
    _paths.set_next_path(again)
    screen.reprint_button.click()
    wait_idle(qtbot, screen)
    assert again.exists() and "Reprint" in screen.preview.caption.text(), screen.status.text()
    assert letters_service.reference(first.letter_id) in _pdf_text(again)

    dialogs.set_next_answer("Queue the notices")  # the practice-wide opt-out is off: said, nothing queued
    screen.notice_button.click()
    wait_idle(qtbot, screen)
    assert screen.status.text().startswith("The practice-wide opt-out is not on"), screen.status.text()

    # Templates tab: the practice's own policy-change wording, then the mailing to every objector.
    panel = screen.templates
    screen.tabs.setCurrentWidget(panel)
    panel.kind.setCurrentIndex(panel.kind.findData("policy_change"))
    wait_idle(qtbot, screen)
    assert panel.editor.toPlainText() == load_template("policy_change").source
    own = panel.editor.toPlainText().replace(
        "PRACTICE MANAGER: replace this paragraph with what has changed, from when, and what happens to the "
        "patient's Type 1 objection. The register refuses to queue this letter until the practice has saved "
        "its own wording.", "From 1 April 2027 Type 1 objections are replaced by the National Data Opt-out.")
    panel.editor.setPlainText(own)
    panel.save_button.click()
    wait_idle(qtbot, screen)
    assert "practice's own wording" in panel.origin.text(), screen.status.text()
    screen.tabs.setCurrentIndex(0)
    dialogs.set_next_answer("Queue the letters")
    screen.policy_change_button.click()
    wait_idle(qtbot, screen)
    queued = [p for p in letters_service.pending(server.manager) if p.kind == "policy_change"]
    assert [p.patient_id for p in queued] == [made[2][0]] and "Queued" in screen.status.text(), screen.status.text()
    dialogs.set_next_answer("Use the standard wording")
    screen.tabs.setCurrentWidget(panel)
    panel.installed_button.click()
    wait_idle(qtbot, screen)
    assert "standard wording" in panel.origin.text(), screen.status.text()
    actions = [r[3] for r in server.audit()]
    for action in ("letter.preview", "letter.print", "letter.sent", "letter.reprint", "template.save",
                   "letter.queue_policy_change", "template.use_installed"):
        assert action in actions, action
    window.lock()


def test_an_altered_audit_entry_is_found_from_the_screen_on_the_server(qtbot, settings, pg_db, server):
    import psycopg

    _objectors(server, 1, 760_000)
    seq = next(r[0] for r in server.audit() if r[3] == "type1.register")
    window = _signed_in(qtbot, settings, pg_db, server.mo, "mo-password-1")
    screen = _screen(qtbot, window, "Audit trail")
    with psycopg.connect(pg_db.admin_conninfo, autocommit=True) as admin:  # someone with the server's keys
        assert admin.execute("UPDATE audit SET detail = 'edited' WHERE seq = %s", (seq,)).rowcount == 1
    screen.verify_button.click()
    wait_idle(qtbot, screen)
    assert screen.verify_result.text().startswith("The audit trail has been altered: "), screen.verify_result.text()
    assert screen.status.text().startswith("The check failed")
    window.lock()


def test_an_action_not_ported_says_the_one_sentence_on_a_server_screen(qtbot, settings, pg_db, server):
    from gp_optout_desktop.services.on_server import not_yet

    window = _signed_in(qtbot, settings, pg_db, server.mo, "mo-password-1")
    for title in ("Audit trail", "Letters"):
        screen = _screen(qtbot, window, title)
        before = server.audit()
        screen.call(lambda s: s.register)  # what an action of a service not yet ported reaches for
        wait_idle(qtbot, screen)
        assert screen.status.text() == not_yet("this part of the program (it still needs a register file)")
        assert server.audit() == before  # nothing written
    window.lock()
