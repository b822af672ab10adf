"""Audit screen: filter by date, user, action and patient; verify in words; export the view to CSV."""

from __future__ import annotations

import csv
import errno
import io
import os
from datetime import date, datetime, timedelta, timezone

import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.services import audit as audit_service, objections, users as users_service
from gp_optout_desktop.services.audit import AuditRow
from gp_optout_desktop.ui import dialogs
from gp_optout_desktop.ui.bus import ChangeBus
from gp_optout_desktop.ui.models.audit_model import AuditModel, csv_bytes
from gp_optout_desktop.ui.screens import SCREENS, _paths, audit as audit_screen
from tests.ui.helpers import wait_idle


@pytest.fixture
def screen(qtbot, manager):
    widget = audit_screen.create(lambda: manager, ChangeBus())
    qtbot.addWidget(widget)
    widget.show()
    wait_idle(qtbot, widget)
    return widget


def _row(**kw):
    base = dict(seq=1, at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc), user="pm", role="manager",
                action="login", patient="", outcome="ok", workstation="desk1", detail="")
    return AuditRow(**{**base, **kw})


def test_model_flags_refusals_and_csv_neutralises_formulas():
    model = AuditModel()
    model.set_rows([_row(outcome="denied", action="denied.export"), _row(seq=2, detail="=HYPERLINK(x)")])
    assert model.rowCount() == 2 and model.index(0, 3).data() == "Was refused: export"  # words, not codes
    from PySide6.QtCore import Qt

    assert model.index(0, 0).data(Qt.ForegroundRole) is not None
    assert model.index(1, 0).data(Qt.ForegroundRole) is None
    text = csv_bytes(model.rows).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["seq", "at_utc", "user"]
    assert rows[2][8] == "'=HYPERLINK(x)"  # a spreadsheet will not run it
    assert rows[1][1] == "2026-01-02T03:04:05+00:00"
    assert rows[1][4] == "denied.export"  # the CSV keeps the stored codes


def test_the_viewer_speaks_in_words_with_nhs_numbers_3_3_4_and_uk_time():
    model = AuditModel()
    model.set_rows([_row(action="letter.print", patient="9990011591", role="receptionist",
                         detail="letters=3 kind=type2_in_error", at=datetime(2026, 7, 1, 23, 30, tzinfo=timezone.utc)),
                    _row(seq=2, action="patient.create", patient="id:42", outcome="failed"),
                    _row(seq=3, action="some.future_action")])
    shown = [[model.index(r, c).data() for c in range(model.columnCount())] for r in range(3)]
    assert shown[0][0] == "02 Jul 2026 00:30:00"  # 00:30 BST the next day, whatever the PC's zone
    assert shown[0][2:6] == ["Receptionist", "Printed letters", "999 001 1591", ""]
    assert shown[0][7] == "letters 3, kind type2 in error"
    assert shown[1][3:6] == ["Added a patient", "record 42 (no NHS number)", "Failed"]
    assert shown[2][3] == "Some: future action"


def test_every_action_the_code_audits_has_words():
    import re
    from pathlib import Path

    from gp_optout_desktop.domain.audit_words import ACTIONS
    source = Path(__file__).resolve().parents[2] / "gp_optout_desktop"
    found = set()
    for path in source.rglob("*.py"):
        # any writer's audit call (ctx.audit on the register file, tx.audit on the server)
        found |= set(re.findall(r'(?:\w+\.audit|audit\.append)\(\s*"([a-z0-9_.]+)"', path.read_text(encoding="utf-8")))
        found |= set(re.findall(r'action="([a-z0-9_.]+)"', path.read_text(encoding="utf-8")))
    found -= {"store_true", "append", "version", "store_false", "count"}  # argparse actions
    assert found and not sorted(found - set(ACTIONS))


def test_filter_by_user_action_patient_and_dates(qtbot, screen, manager, add_patient):
    users_service.add(manager, "desk", roles.RECEPTIONIST, password="desk-password-1")
    pid = add_patient(manager, nhs="9990000018")
    objections.record(manager, pid)
    screen.action.setEditText("type1.")
    screen.apply_button.click()
    wait_idle(qtbot, screen)
    assert screen.model.rowCount() == 1
    assert screen.model.rows[0].action == "type1.register" and screen.model.rows[0].patient == "9990000018"

    screen.action.setCurrentIndex(0)
    screen.patient.setText("999 000 0018")  # any spacing
    screen.apply_button.click()
    wait_idle(qtbot, screen)
    assert {r.action for r in screen.model.rows} == {"patient.create", "type1.register", "letter.queue"}
    assert "3 entries shown" in screen.count_label.text()

    screen.patient.clear()
    screen.user.setText("nobody")
    screen.apply_button.click()
    wait_idle(qtbot, screen)
    assert screen.model.rowCount() == 0

    screen.user.setText("pm")
    screen.set_date_range(date.today() + timedelta(days=1), None)
    screen.apply_button.click()
    wait_idle(qtbot, screen)
    assert screen.model.rowCount() == 0
    screen.set_date_range(date.today() - timedelta(days=1), date.today() + timedelta(days=1))
    screen.apply_button.click()
    wait_idle(qtbot, screen)
    assert screen.model.rowCount() > 3 and {r.user for r in screen.model.rows} == {"pm"}

    screen.set_date_range(date.today(), date.today() - timedelta(days=2))
    screen.apply_button.click()
    assert "after the 'to' date" in screen.status.text()


def test_verify_says_intact_then_altered(qtbot, screen, manager):
    screen.verify_button.click()
    wait_idle(qtbot, screen)
    assert screen.verify_result.text().startswith("The audit trail is intact:")
    # Someone edits an entry behind the application's back.
    with manager.register.transaction() as conn:
        conn.execute("UPDATE audit SET user = 'someone' WHERE seq = 1")
    screen.verify_button.click()
    wait_idle(qtbot, screen)
    assert screen.verify_result.text() == "The audit trail has been altered: entry 1 was changed after it was written."
    assert "failed" in screen.status.text()


def test_export_writes_the_filtered_view_atomically(qtbot, screen, manager, tmp_path):
    screen.action.setEditText("login")
    screen.apply_button.click()
    wait_idle(qtbot, screen)
    shown = screen.model.rowCount()
    target = tmp_path / "audit.csv"
    _paths.set_next_path(target)
    screen.export_button.click()
    wait_idle(qtbot, screen)
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
    assert len(rows) == shown + 1 and all(r[4].startswith("login") for r in rows[1:])
    assert f"Exported {shown} entries" in screen.status.text()
    assert target.read_bytes() == screen.model.csv()  # the file is the view shown, byte for byte
    exports = audit_service.query(manager, action="audit.export")
    assert [(r.user, r.outcome, r.detail) for r in exports] == [("pm", "ok", f"rows={shown}")]

    # A full disk: the error in words, the earlier file unchanged, no temp file left behind.
    before = target.read_bytes()
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    screen.action.setCurrentIndex(0)
    screen.apply_button.click()
    wait_idle(qtbot, screen)
    os.fsync = full
    try:
        _paths.set_next_path(target)
        screen.export_button.click()
        wait_idle(qtbot, screen)
    finally:
        os.fsync = real_fsync
    assert "the disk is full" in screen.status.text()
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if "audit" in p.name) == ["audit.csv"]
    exports = audit_service.query(manager, action="audit.export")  # the failed attempt is audited too
    assert [r.outcome for r in exports] == ["failed", "ok"]
    assert exports[0].detail == f"rows={screen.model.rowCount()}"


def test_export_csv_service_refused_to_other_roles_and_nothing_written(manager, tmp_path):
    rows = audit_service.query(manager, action="login")
    target = tmp_path / "audit.csv"
    manager.role = roles.RECEPTIONIST
    with pytest.raises(PermissionError):
        audit_service.export_csv(manager, rows, target)
    manager.role = roles.MANAGER
    assert not target.exists()
    assert audit_service.query(manager, action="audit.export") == []
    assert audit_service.query(manager, action="denied.view_audit")[0].role == roles.RECEPTIONIST
    change = audit_service.export_csv(manager, rows, target)
    assert target.read_bytes() == audit_service.csv_bytes(rows) and change.data["rows"] == len(rows)


def test_audit_screen_hidden_from_and_refused_to_other_roles(manager):
    spec = next(s for s in SCREENS if s.title == audit_screen.TITLE)
    assert spec.permission == "view_audit"
    assert [r for r in roles.ROLES if roles.allowed(r, spec.permission)] == [roles.MANAGER]
    manager.role = roles.RECEPTIONIST
    with pytest.raises(PermissionError):
        audit_service.query(manager)
    with pytest.raises(PermissionError):
        audit_service.verify(manager)
    manager.role = roles.MANAGER
    assert audit_service.query(manager, action="denied.")[0].outcome == "denied"


def test_errors_in_words():
    from gp_optout_desktop.domain.roles import PermissionDenied
    from gp_optout_desktop.ui.screens.base import describe_error

    assert describe_error(PermissionDenied("A GP may not view the audit trail.")) == "A GP may not view the audit trail."
    text = describe_error(PermissionError(errno.EACCES, "Permission denied", "/srv/audit.csv"))
    assert text == "Could not write the file (/srv/audit.csv): permission to write there was refused. Nothing was replaced."
    assert "the disk is full" in describe_error(OSError(errno.ENOSPC, "No space left on device"))
    assert describe_error(KeyError("x")) == "Something went wrong (KeyError). Nothing further was changed."
