"""Letters screen: confirmations held for their codes are said so, and the policy-change
mailing is queued from the screen to every objector in force (the real register)."""

from __future__ import annotations

from gp_optout_desktop.letters.templates import load_template
from gp_optout_desktop.services import letters as letters_service, objections, templates
from gp_optout_desktop.ui import dialogs
from gp_optout_desktop.ui.bus import ChangeBus
from gp_optout_desktop.ui.screens import letters as letters_screen
from tests.in_force_helpers import confirm
from tests.ui.helpers import wait_idle


def test_held_confirmations_and_the_policy_change_button(qtbot, manager, add_patient, tmp_path):
    waiting, in_force = add_patient(manager, surname="Waiting"), add_patient(manager, surname="Inforce")
    for pid in (waiting, in_force):
        objections.record(manager, pid)
    letters_service.print_batch(manager, tmp_path / "acks.pdf")  # both acknowledged: codes pending
    confirm(manager, in_force)
    screen = letters_screen.create(lambda: manager, ChangeBus())
    qtbot.addWidget(screen)
    screen.show()
    wait_idle(qtbot, screen)
    # Inforce's confirmation is ready; Waiting's waits for its code.
    assert [screen.model.letter_at(r).patient_id for r in range(screen.model.rowCount())] == [in_force]
    assert screen.held_note.text().startswith("1 confirmation waits for codes to be confirmed in the clinical system")
    from gp_optout_desktop.services import overview

    summary = overview.overview(manager)
    assert (summary.letters_pending, summary.letters_held) == (1, 1)  # the held one is not "to send"

    # Refused while the wording is the installed stub; the screen says why, nothing queued.
    dialogs.set_next_answer("Queue the letters")
    screen.policy_change_button.click()
    wait_idle(qtbot, screen)
    assert "Write the policy-change letter first" in screen.status.text()
    question = dialogs.shown[-1][1]
    assert "to 1 patient whose objection is in force" in question
    templates.save_template(manager, "policy_change", load_template("policy_change").source.replace(
        "PRACTICE MANAGER: replace this paragraph", "Type 1 is changing; this paragraph"))
    dialogs.set_next_answer("Cancel")
    screen.policy_change_button.click()
    wait_idle(qtbot, screen)
    assert not [p for p in letters_service.pending(manager) if p.kind == "policy_change"]
    dialogs.set_next_answer("Queue the letters")
    screen.policy_change_button.click()
    wait_idle(qtbot, screen)
    assert "Queued 1 policy-change letter" in screen.status.text()
    queued = [p.patient_id for p in letters_service.pending(manager) if p.kind == "policy_change"]
    assert queued == [in_force]
