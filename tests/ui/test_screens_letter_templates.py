"""Letter templates tab: the fields for each kind listed, unknown fields refused, saving raises
the version; refused to anyone without 'edit_templates'."""

from __future__ import annotations

import shutil

import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.letters.fields import allowed_fields
from gp_optout_desktop.letters.templates import default_dir, load_template
from gp_optout_desktop.services import audit as audit_service
from gp_optout_desktop.ui import dialogs
from gp_optout_desktop.ui.bus import ChangeBus
from gp_optout_desktop.ui.screens import _paths, _printing, letters as letters_screen
from tests.ui.helpers import wait_idle


@pytest.fixture
def panel(qtbot, manager, tmp_path):
    folder = tmp_path / "templates"
    shutil.copytree(default_dir(), folder)
    screen = letters_screen.create(lambda: manager, ChangeBus())
    qtbot.addWidget(screen)
    screen.show()
    wait_idle(qtbot, screen)
    screen.templates.templates_dir = folder
    screen.templates.load()
    return screen.templates


def test_fields_listed_for_the_kind_and_insertable(panel):
    assert panel.current_kind == "objection"
    assert panel.field_names() == [f"{{{n}}}" for n in allowed_fields("objection")]
    panel.kind.setCurrentIndex(panel.kind.findData("practice_wide_notice"))
    assert "{policy_effective_date}" in panel.field_names() and "{recorded_table}" not in panel.field_names()
    panel.editor.moveCursor(panel.editor.textCursor().MoveOperation.End)
    panel.insert_field(0)
    assert panel.editor.toPlainText().endswith(panel.field_names()[0]) and panel.modified


def test_unknown_field_is_refused_and_the_file_kept(qtbot, panel, manager):
    path = panel.templates_dir / "objection.txt"
    before = path.read_text(encoding="utf-8")
    panel.editor.setPlainText(before.replace("Dear {salutation},", "Dear {salutaton},"))
    panel.save_button.click()
    wait_idle(qtbot, panel.screen)
    assert "unknown field {salutaton}" in panel.screen.status.text()
    assert path.read_text(encoding="utf-8") == before
    assert audit_service.query(manager, action="template.save") == []  # nothing saved, nothing audited


def test_saving_new_wording_raises_the_version(qtbot, panel, manager):
    path = panel.templates_dir / "objection.txt"
    old = load_template("objection", panel.templates_dir)
    panel.editor.setPlainText(path.read_text(encoding="utf-8").replace("Thank you for telling us",
                                                                       "Thank you very much for telling us"))
    panel.save_button.click()
    wait_idle(qtbot, panel.screen)
    new = load_template("objection", panel.templates_dir)
    assert new.version == old.version + 1 and "Thank you very much" in new.source
    assert f"version {new.version}" in panel.screen.status.text() and not panel.modified
    assert panel.version.text() == f"version {new.version}"
    saves = audit_service.query(manager, action="template.save")
    assert [(r.user, r.outcome, r.detail) for r in saves] == [("pm", "ok", f"kind=objection version={new.version}")]


def test_switching_letter_with_unsaved_changes_asks_first(panel):
    panel.editor.setPlainText(panel.editor.toPlainText() + "\nMore words.")
    dialogs.set_next_answer("Cancel")
    panel.kind.setCurrentIndex(panel.kind.findData("withdrawal"))
    assert panel.current_kind == "objection" and panel.modified
    dialogs.set_next_answer("Discard")
    panel.kind.setCurrentIndex(panel.kind.findData("withdrawal"))
    assert panel.current_kind == "withdrawal" and not panel.modified


def test_refused_without_edit_templates(qtbot, panel, manager):
    path = panel.templates_dir / "objection.txt"
    before = path.read_text(encoding="utf-8")
    panel.editor.setPlainText(before.replace("Thank you", "Thanks"))
    manager.role = roles.GP
    panel.save_button.click()
    wait_idle(qtbot, panel.screen)
    assert "may not edit letter templates" in panel.screen.status.text()
    assert path.read_text(encoding="utf-8") == before
    manager.role = roles.MANAGER
    assert audit_service.query(manager, action="template.save") == []
    assert [r.role for r in audit_service.query(manager, action="denied.edit_templates")] == [roles.GP]
    assert not roles.allowed(roles.RECEPTIONIST, "edit_templates")
