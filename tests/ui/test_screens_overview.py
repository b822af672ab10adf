"""Overview: the counts the register holds, the chart drawn from them, the policy banner."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from PySide6.QtCore import QRectF

from tests.in_force_helpers import confirm
from gp_optout_desktop.domain import codes, roles
from gp_optout_desktop.services import demo as demo_service, exclusion as exclusion_service, objections
from gp_optout_desktop.services import overview as overview_service, session as session_service
from gp_optout_desktop.services import users as users_service
from gp_optout_desktop.services.overview import Period, timeline
from gp_optout_desktop.ui.bus import ChangeBus
from gp_optout_desktop.ui.screens import SCREENS, chart, overview as overview_screen
from gp_optout_desktop.ui.screens.policy_banner import PolicyBanner
from tests.ui.helpers import wait_idle


def test_timeline_buckets_by_year_for_long_histories_and_keeps_empty_years():
    monthly = [("2014-02", "register", 5), ("2014-06", "withdraw", 1), ("2017-01", "register", 2)]
    periods = timeline(monthly, date(2018, 3, 1))
    assert [p.label for p in periods] == ["2014", "2015", "2016", "2017", "2018"]
    assert periods[0] == Period("2014", 5, 1, 4)
    assert periods[1].objections == 0 and periods[1].objecting_at_end == 4
    assert periods[-1].objecting_at_end == 6


def test_timeline_by_month_for_short_histories():
    periods = timeline([("2026-01", "register", 3), ("2026-03", "withdraw", 1)], date(2026, 4, 15))
    assert [p.label for p in periods] == ["Jan 2026", "Feb 2026", "Mar 2026", "Apr 2026"]
    assert [p.objecting_at_end for p in periods] == [3, 3, 2, 2]
    assert timeline([], date(2026, 1, 1)) == []


def test_chart_geometry_is_proportional_and_described_in_words():
    periods = [Period("2014", 10, 0, 10), Period("2015", 5, 2, 13)]
    area = QRectF(0, 0, 200, 100)
    (obj0, wd0), (obj1, wd1) = chart.bar_rects(periods, area)
    assert obj0.height() == pytest.approx(100) and obj1.height() == pytest.approx(50)
    assert wd0.height() == 0 and wd1.height() == pytest.approx(20)
    assert obj0.bottom() == pytest.approx(100) and obj1.left() > wd0.right()
    assert chart.nice_max(13) == 20 and chart.nice_max(100) == 100 and chart.nice_max(0) == 1
    assert "2015: 5 new, 2 withdrawn, 13 in force" in chart.describe(periods)


def test_overview_counts_match_what_was_recorded(qtbot, manager, add_patient):
    # The session's clock is pinned so "overdue" and the chart's months are the same on any date:
    # Ayre's objection (5 January) is over a month old on 2 March; the others are received today.
    manager.clock = lambda: datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
    a, b, c = (add_patient(manager, surname=s) for s in ("Ayre", "Bell", "Cole"))
    add_patient(manager, surname="Dunn")  # no objection
    objections.record(manager, a, received=date(2026, 1, 5), effective=date(2026, 1, 5))
    objections.record(manager, b)
    objections.record(manager, c)
    objections.record(manager, c, action=codes.WITHDRAW)  # a withdrawal is not an objection
    screen = overview_screen.create(lambda: manager, ChangeBus())
    qtbot.addWidget(screen)
    screen.show()
    wait_idle(qtbot, screen)
    shown = {k: t.figure.text() for k, t in screen.tiles.items()}
    # Recorded is received, not in force: none of the codes is confirmed in the clinical system yet.
    assert shown == {"patients": "4", "type1": "0", "type1_received": "2", "type2": "0", "withdrawn": "1",
                     "included": "0", "pending": "4", "overdue": "1",
                     "policy": "Off", "coding": "4", "reconciled": "Never"}  # 4 events, none confirmed
    received = screen.tiles["type1_received"].caption.text()
    assert "practice manager codes them" in received and "1 withdrawal not yet confirmed" in received
    assert [p.label for p in screen.chart.periods] == ["Jan 2026", "Feb 2026", "Mar 2026"]
    assert screen.chart.periods[-1].objecting_at_end == 2
    assert "no NHS number" not in screen.tiles["type1"].caption.text()
    confirm(manager, a)  # a reconciliation found Ayre's code in the clinical system's export
    screen.refresh()
    wait_idle(qtbot, screen)
    assert screen.tiles["type1"].figure.text() == "1" and screen.tiles["type1_received"].figure.text() == "1"
    # An objector with no NHS number cannot be in the exclusion file: the tile says so, in red.
    objections.record(manager, add_patient(manager, surname="Unnumbered", nhs=None))
    screen.refresh()
    wait_idle(qtbot, screen)
    caption = screen.tiles["type1"].caption.text()
    assert screen.tiles["type1_received"].figure.text() == "2" and "1 objecting patient has no NHS number" in caption
    assert "a4000f" in screen.tiles["type1"].figure.styleSheet()
    image = screen.grab().toImage()
    assert image.width() > 0 and len({image.pixel(x, image.height() // 2 + 60) for x in range(0, image.width(), 4)}) > 2


def test_overview_of_a_demo_register_agrees_with_the_generator(qtbot, tmp_path):
    session, _recovery, stats = demo_service.create_demo(tmp_path / "reg", 200)
    try:
        data = overview_service.overview(session)
        assert data.patients == stats["patients"] == 200
        assert data.objecting[codes.TYPE1] == stats["type1_active"]
        # The running total ends at the number of objections in force now.
        assert data.timeline[-1].objecting_at_end == sum(data.objecting.values())
        assert data.timeline[0].label == "2014"
        session.role = roles.RECEPTIONIST  # everyone may see the overview
        assert overview_service.overview(session).patients == 200
    finally:
        session.lock()


def test_policy_banner_shows_only_while_on_for_every_role(qtbot, manager, register_dir):
    users_service.add(manager, "doc", roles.GP, password="doc-password-1")
    users_service.add(manager, "desk", roles.RECEPTIONIST, password="desk-password-1")
    gp = session_service.unlock(register_dir, "doc", "doc-password-1")
    desk = session_service.unlock(register_dir, "desk", "desk-password-1")
    bus = ChangeBus()
    banner = PolicyBanner(lambda: desk, bus)  # a receptionist's window
    qtbot.addWidget(banner)
    wait_idle(qtbot, banner)
    assert banner.isHidden()
    bus.publish(exclusion_service.set_practice_optout(gp, "on", "GP partners <decided>"))
    wait_idle(qtbot, banner)
    assert not banner.isHidden()
    assert "Practice-wide opt-out is ON" in banner.label.text() and "&lt;decided&gt;" in banner.label.text()
    bus.locked.emit()
    assert banner.isHidden() and banner.label.text() == ""
    bus.unlocked.emit(manager)
    wait_idle(qtbot, banner)
    assert not banner.isHidden()
    bus.publish(exclusion_service.set_practice_optout(gp, "off", "Reversed"))
    wait_idle(qtbot, banner)
    assert banner.isHidden()
    overview_data = overview_service.overview(desk)
    assert overview_data.policy is not None and not overview_data.policy_on
    gp.register.close()
    desk.register.close()


def test_overview_is_for_everyone():
    spec = next(s for s in SCREENS if s.title == overview_screen.TITLE)
    assert all(roles.allowed(r, spec.permission) for r in roles.ROLES)
