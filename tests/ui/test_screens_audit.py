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
    assert model.rowCount() == 2 and model.index(0, 3).data() == "denied.export"
    from PySide6.QtCore import Qt

    assert model.index(0, 0).data(Qt.ForegroundRole) is not None
    assert model.index(1, 0).data(Qt.ForegroundRole) is None
    text = csv_bytes(model.rows).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["seq", "at_utc", "user"]
    assert rows[2][8] == "'=HYPERLINK(x)"  # a spreadsheet will not run it
    assert rows[1][1] == "2026-01-02T03:04:05+00:00"


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
