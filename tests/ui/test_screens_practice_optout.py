"""Practice-wide opt-out: a GP turns it on then off (confirmation states NHS England's position);
the banner follows; receptionists and managers are refused by the service."""

from __future__ import annotations

from datetime import date

import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.domain.practice_policy import NHSE_POSITION, ON
from gp_optout_desktop.services import audit as audit_service, exclusion as exclusion_service
from gp_optout_desktop.services import session as session_service, users as users_service
from gp_optout_desktop.ui import dialogs
from gp_optout_desktop.ui.bus import ChangeBus
from gp_optout_desktop.ui.models.policy_model import PolicyHistoryModel
from gp_optout_desktop.ui.screens import SCREENS, practice_optout
from gp_optout_desktop.ui.screens.policy_banner import PolicyBanner
from tests.ui.helpers import wait_idle




@pytest.fixture
def people(manager, register_dir):
    """The manager's register with a GP and a receptionist; yields their open sessions."""
    users_service.add(manager, "doc", roles.GP, password="doc-password-1")
    users_service.add(manager, "desk", roles.RECEPTIONIST, password="desk-password-1")
    gp = session_service.unlock(register_dir, "doc", "doc-password-1")
    desk = session_service.unlock(register_dir, "desk", "desk-password-1")
    yield {"gp": gp, "desk": desk, "manager": manager}
    for s in (gp, desk):
        if s.register.is_open:
            s.register.close()


def test_gp_turns_it_on_then_off_and_the_banner_follows(qtbot, people):
    gp = people["gp"]
    bus = ChangeBus()
    screen = practice_optout.create(lambda: gp, bus)
    banner = PolicyBanner(lambda: gp, bus)
    qtbot.addWidget(screen)
    qtbot.addWidget(banner)
    screen.show()
    wait_idle(qtbot, screen, banner)
    assert "OFF" in screen.state.text() and banner.isHidden()
    assert screen.included.text().startswith("0 patients have asked to be included")
    assert screen.change_button.text() == "Turn it &on…"

    # No reason: refused in words before any question.
    screen.change_button.click()
    assert "Give a reason" in screen.status.text()

    screen.reason.setText("Partners' decision, practice meeting")
    dialogs.set_next_answer("Cancel")
    screen.change_button.click()
    wait_idle(qtbot, screen)
    title, text = dialogs.shown[-1]
    assert title == "Practice-wide opt-out" and NHSE_POSITION in text
    assert not exclusion_service.practice_optout_status(gp).on  # cancelled: nothing written

    dialogs.set_next_answer("Turn it on")
    screen.change_button.click()
    wait_idle(qtbot, screen, banner)
    status = exclusion_service.practice_optout_status(gp)
    assert status.on and status.latest.reason == "Partners' decision, practice meeting"
    assert status.latest.recorded_by == "doc" and status.latest.effective == date.today()
    assert "ON" in screen.state.text() and "Export the exclusion file again" in screen.status.text()
    assert not banner.isHidden() and "Practice-wide opt-out is ON" in banner.label.text()
    assert screen.model.rowCount() == 1 and screen.reason.text() == ""
    assert screen.change_button.text() == "Turn it &off…"

    screen.reason.setText("Patients told; decision reversed")
    dialogs.set_next_answer("Turn it off")
    screen.change_button.click()
    wait_idle(qtbot, screen, banner)
    status = exclusion_service.practice_optout_status(gp)
    assert not status.on and len(status.history) == 2
    assert banner.isHidden() and "OFF" in screen.state.text()
    assert screen.model.index(0, 1).data() == "Off" and screen.model.index(1, 1).data() == "On"
    actions = [r.action for r in audit_service.query(people["manager"], action="practice_optout.")]
    assert actions == ["practice_optout.off", "practice_optout.on"]


def test_refused_for_reception_and_manager(people):
    spec = next(s for s in SCREENS if s.title == practice_optout.TITLE)
    assert spec.permission == "practice_optout"
    assert [r for r in roles.ROLES if roles.allowed(r, spec.permission)] == [roles.GP]
    for who in ("desk", "manager"):
        with pytest.raises(PermissionError):
            exclusion_service.set_practice_optout(people[who], ON, "no", date.today())
    assert not exclusion_service.practice_optout_status(people["desk"]).on  # but everyone can read the state
    denied = audit_service.query(people["manager"], action="denied.practice_optout")
    assert {r.user for r in denied} == {"desk", "pm"}


def test_history_model_newest_first():
    from datetime import datetime, timezone

    from gp_optout_desktop.domain.practice_policy import PolicyChange

    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    model = PolicyHistoryModel()
    model.set_history([PolicyChange("on", date(2025, 1, 1), "a", "doc", at, 1),
                       PolicyChange("off", date(2025, 6, 1), "b", "doc", at, 2)])
    assert [model.index(r, 0).data() for r in range(2)] == ["1 Jun 2025", "1 Jan 2025"]
    assert model.index(0, 2).data() == "b"
