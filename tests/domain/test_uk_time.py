"""'Today' is the practice's date in the UK, whatever zone the PC is set to: tested around
midnight in British Summer Time and in winter, with the process's own zone set elsewhere."""

from __future__ import annotations

import time
from datetime import date, datetime, timezone

import pytest

from gp_optout_desktop.domain.uk_time import uk, uk_date


@pytest.fixture(params=["America/New_York", "Asia/Tokyo", "UTC"])
def pc_zone(request, monkeypatch):
    if not hasattr(time, "tzset"):
        pytest.skip("the process zone can only be changed where time.tzset exists (not Windows)")
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("instant, uk_day", [
    (datetime(2026, 6, 30, 23, 30, tzinfo=timezone.utc), date(2026, 7, 1)),   # 00:30 BST on 1 July
    (datetime(2026, 6, 30, 22, 59, tzinfo=timezone.utc), date(2026, 6, 30)),  # 23:59 BST
    (datetime(2026, 12, 31, 23, 30, tzinfo=timezone.utc), date(2026, 12, 31)),  # 23:30 GMT
    (datetime(2026, 3, 29, 0, 59, tzinfo=timezone.utc), date(2026, 3, 29)),   # the hour the clocks go forward
    (datetime(2026, 10, 24, 23, 30, tzinfo=timezone.utc), date(2026, 10, 25)),  # 00:30 BST, the day they go back
])
def test_the_uk_date_of_an_instant_ignores_the_pcs_zone(pc_zone, instant, uk_day):
    assert uk_date(instant) == uk_day


def test_summer_and_winter_offsets():
    assert uk(datetime(2026, 7, 1, 12, tzinfo=timezone.utc)).utcoffset().total_seconds() == 3600
    assert uk(datetime(2026, 1, 1, 12, tzinfo=timezone.utc)).utcoffset().total_seconds() == 0


def test_a_session_records_just_after_midnight_bst_on_the_uk_date(pc_zone, manager, add_patient):
    from gp_optout_desktop.services import objections, patients

    manager.clock = lambda: datetime(2026, 6, 30, 23, 30, tzinfo=timezone.utc)
    assert manager.today() == date(2026, 7, 1)
    pid = add_patient(manager)
    objections.record(manager, pid)
    event = patients.view(manager, pid).history[0]
    assert event.effective == event.received == date(2026, 7, 1)
