"""Letter templates tab: the fields for each kind listed, unknown fields refused, saving keeps
the practice's wording in the register with a raised version (and the next letters use it),
the standard wording can be brought back; refused to anyone without 'edit_templates'."""

from __future__ import annotations

import pytest
from pypdf import PdfReader

from gp_optout_desktop.domain import roles
from gp_optout_desktop.letters.fields import allowed_fields
from gp_optout_desktop.letters.templates import default_dir, load_template
from gp_optout_desktop.services import audit as audit_service, letters as letters_service, objections
from gp_optout_desktop.services import templates as template_service
from gp_optout_desktop.ui import dialogs
from gp_optout_desktop.ui.bus import ChangeBus
from gp_optout_desktop.ui.screens import letters as letters_screen
from tests.in_force_helpers import confirm
from tests.ui.helpers import wait_idle


@pytest.fixture
def panel(qtbot, manager):
    screen = letters_screen.create(lambda: manager, ChangeBus())
    qtbot.addWidget(screen)
    screen.show()
    wait_idle(qtbot, screen)
    return screen.templates


def installed_files():
    return {p.name: p.read_bytes() for p in default_dir().iterdir()}


def test_fields_listed_for_the_kind_and_insertable(qtbot, panel):
    assert panel.current_kind == "objection"
    assert panel.editor.toPlainText() == load_template("objection").source
    assert "standard wording" in panel.origin.text() and not panel.installed_button.isEnabled()
    assert panel.field_names() == [f"{{{n}}}" for n in allowed_fields("objection")]
    panel.kind.setCurrentIndex(panel.kind.findData("practice_wide_notice"))
    wait_idle(qtbot, panel.screen)
    assert panel.editor.toPlainText() == load_template("practice_wide_notice").source
    assert "{policy_effective_date}" in panel.field_names() and "{recorded_table}" not in panel.field_names()
    panel.editor.moveCursor(panel.editor.textCursor().MoveOperation.End)
    panel.insert_field(0)
    assert panel.editor.toPlainText().endswith(panel.field_names()[0]) and panel.modified


def test_unknown_field_is_refused_and_nothing_saved(qtbot, panel, manager):
    before = panel.editor.toPlainText()
    panel.editor.setPlainText(before.replace("Dear {salutation},", "Dear {salutaton},"))
    panel.save_button.click()
    wait_idle(qtbot, panel.screen)
    assert "unknown field {salutaton}" in panel.screen.status.text()
    assert not template_service.current(manager, "objection").own
    assert audit_service.query(manager, action="template.save") == []  # nothing saved, nothing audited


def test_saving_new_wording_keeps_it_in_the_register_and_letters_use_it(qtbot, panel, manager, add_patient, tmp_path):
    untouched = installed_files()
    old = load_template("objection")
    panel.editor.setPlainText(old.source.replace("Thank you for telling us", "Thank you very much for telling us"))
    panel.save_button.click()
    wait_idle(qtbot, panel.screen)
    new = template_service.current(manager, "objection")
    assert new.own and new.template.version == old.version + 1 and "Thank you very much" in new.template.source
    assert f"version {new.template.version}" in panel.screen.status.text() and not panel.modified
    assert panel.version.text() == f"version {new.template.version}" and "practice's own wording" in panel.origin.text()
    assert installed_files() == untouched  # the installation is never written
    saves = audit_service.query(manager, action="template.save")
    assert [(r.user, r.outcome, r.detail) for r in saves] == [("pm", "ok", f"kind=objection version={new.template.version}")]
    # The next letter printed is worded the practice's way and records that version.
    confirmed = add_patient(manager)
    objections.record(manager, confirmed)
    confirm(manager, confirmed)  # the confirmation prints only once the code is confirmed
    out = tmp_path / "letters.pdf"
    letters_service.print_batch(manager, out)
    assert "Thank you very much for telling us" in " ".join(p.extract_text() for p in PdfReader(str(out)).pages)

    # Back to the standard wording, after a confirmation.
    assert panel.installed_button.isEnabled()
    dialogs.set_next_answer("Use the standard wording")
    panel.installed_button.click()
    wait_idle(qtbot, panel.screen)
    assert panel.editor.toPlainText() == old.source and "standard wording" in panel.origin.text()
    assert not template_service.current(manager, "objection").own
    assert [r.action for r in audit_service.query(manager, action="template.")] == ["template.use_installed",
                                                                                    "template.save"]  # newest first


def test_switching_letter_with_unsaved_changes_asks_first(qtbot, panel):
    panel.editor.setPlainText(panel.editor.toPlainText() + "\nMore words.")
    dialogs.set_next_answer("Cancel")
    panel.kind.setCurrentIndex(panel.kind.findData("withdrawal"))
    assert panel.current_kind == "objection" and panel.modified
    dialogs.set_next_answer("Discard")
    panel.kind.setCurrentIndex(panel.kind.findData("withdrawal"))
    wait_idle(qtbot, panel.screen)
    assert panel.current_kind == "withdrawal" and not panel.modified


def test_an_edit_in_progress_survives_a_queue_refresh(qtbot, panel):
    panel.editor.setPlainText(panel.editor.toPlainText() + "\nMore words.")
    panel.screen.refresh()
    wait_idle(qtbot, panel.screen)
    assert panel.modified and panel.editor.toPlainText().endswith("More words.")


def test_refused_without_edit_templates(qtbot, panel, manager):
    before = panel.editor.toPlainText()
    panel.editor.setPlainText(before.replace("Thank you", "Thanks"))
    manager.role = roles.GP
    panel.save_button.click()
    wait_idle(qtbot, panel.screen)
    assert "may not edit letter templates" in panel.screen.status.text()
    manager.role = roles.MANAGER
    assert not template_service.current(manager, "objection").own
    assert audit_service.query(manager, action="template.save") == []
    assert [r.role for r in audit_service.query(manager, action="denied.edit_templates")] == [roles.GP]
    assert not roles.allowed(roles.RECEPTIONIST, "edit_templates")
