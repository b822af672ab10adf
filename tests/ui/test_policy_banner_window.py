"""The practice-wide opt-out banner in the real main window: above every screen, the front
desk included, for every role; it follows the bus and forgets everything on lock."""

from __future__ import annotations

from gp_optout_desktop.domain.practice_policy import OFF, ON
from gp_optout_desktop.services import exclusion as exclusion_service


def banner_idle(qtbot, window):
    qtbot.waitUntil(lambda: not window.banner.busy, timeout=20000)


def test_banner_follows_the_gp_on_every_screen_and_clears_on_lock(qtbot, window, unlock_as):
    gp = unlock_as(window, "gp")
    banner_idle(qtbot, window)
    assert window.screens.currentWidget() is window.desk  # the front desk
    assert not exclusion_service.practice_optout_status(gp).on
    assert window.banner.isHidden()

    # A GP turns it on through the service; the change set goes out on the bus as a screen would.
    window.bus.publish(exclusion_service.set_practice_optout(gp, ON, "Partners' decision, practice meeting"))
    banner_idle(qtbot, window)
    assert exclusion_service.practice_optout_status(gp).on  # the register holds it
    assert window.banner.isVisible()  # on the front desk
    text = window.banner.label.text()
    assert "Practice-wide opt-out is ON" in text and "set by gp" in text and "Partners' decision" in text
    for row in range(window.nav.count()):  # and above every other screen this role has
        window.nav.setCurrentRow(row)
        assert window.banner.isVisible(), window.nav.item(row).text()
        screen = window.screens.currentWidget()
        qtbot.waitUntil(lambda s=screen: not getattr(s, "busy", False), timeout=20000)  # its first load

    # Locked: nothing shown; the receptionist who unlocks next sees it on the front desk.
    window.lock()
    assert window.banner.isHidden() and window.banner.label.text() == ""
    unlock_as(window, "reception")
    banner_idle(qtbot, window)
    assert window.screens.currentWidget() is window.desk
    assert window.banner.isVisible() and "Practice-wide opt-out is ON" in window.banner.label.text()

    # The GP turns it off: the banner goes.
    window.lock()
    gp = unlock_as(window, "gp")
    banner_idle(qtbot, window)
    assert window.banner.isVisible()
    window.bus.publish(exclusion_service.set_practice_optout(gp, OFF, "Decision reversed"))
    banner_idle(qtbot, window)
    assert not exclusion_service.practice_optout_status(gp).on
    assert window.banner.isHidden()


def test_banner_ignores_changes_that_do_not_touch_the_policy(qtbot, window, unlock_as):
    from gp_optout_desktop.services.changes import ChangeSet

    gp = unlock_as(window, "gp")
    banner_idle(qtbot, window)
    exclusion_service.set_practice_optout(gp, ON, "Partners' decision")  # not published
    window.bus.publish(ChangeSet("A letter was printed.", areas=frozenset({"letters"})))
    banner_idle(qtbot, window)
    assert window.banner.isHidden()  # no policy area: no re-read
    window.bus.publish(ChangeSet("Policy", areas=frozenset({"policy"})))
    banner_idle(qtbot, window)
    assert window.banner.isVisible()


def test_one_banner_only_on_the_overview(qtbot, window, unlock_as):
    from gp_optout_desktop.ui.screens.policy_banner import PolicyBanner

    gp = unlock_as(window, "gp")
    window.bus.publish(exclusion_service.set_practice_optout(gp, ON, "Partners' decision"))
    window.nav.setCurrentRow([window.nav.item(i).text() for i in range(window.nav.count())].index("Overview"))
    overview = window.screens.currentWidget()
    qtbot.waitUntil(lambda: not overview.busy and not window.banner.busy, timeout=20000)
    shown = [b for b in window.findChildren(PolicyBanner) if b.isVisible()]
    assert shown == [window.banner]
