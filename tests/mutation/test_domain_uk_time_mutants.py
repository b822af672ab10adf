"""The practice's date and time on a PC set to another zone (Tokyo here): a stored naive time
is UTC, and "today" is the UK's today, never the PC's."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from gp_optout_desktop.domain import uk_time
from gp_optout_desktop.domain.uk_time import UK, uk, uk_date, uk_today


@pytest.fixture
def pc_in_tokyo(monkeypatch):
    if not hasattr(time, "tzset"):
        pytest.skip("the process zone can only be changed where time.tzset exists (not Windows)")
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_naive_stored_time_is_read_as_utc(pc_in_tokyo):
    summer = uk(datetime(2026, 7, 1, 23, 30))
    assert summer == datetime(2026, 7, 2, 0, 30, tzinfo=UK) and summer.utcoffset() == timedelta(hours=1)
    assert uk_date(datetime(2026, 7, 1, 23, 30)).isoformat() == "2026-07-02"
    assert uk_date(datetime(2026, 12, 1, 23, 30)).isoformat() == "2026-12-01"


def test_an_aware_time_keeps_its_instant(pc_in_tokyo):
    tokyo = datetime(2026, 7, 2, 8, 30, tzinfo=timezone(timedelta(hours=9)))
    assert uk(tokyo) == tokyo and uk(tokyo).hour == 0 and uk(tokyo).tzinfo is UK


def test_today_is_the_uk_date_at_half_past_midnight_bst(pc_in_tokyo, monkeypatch):
    # 23:30 UTC on 30 June is 00:30 BST on 1 July, and 08:30 on 1 July in Tokyo.
    instant = datetime(2026, 6, 30, 23, 30, tzinfo=timezone.utc)

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return instant.astimezone(tz) if tz is not None else instant.astimezone().replace(tzinfo=None)

    monkeypatch.setattr(uk_time, "datetime", Clock)
    assert uk_today().isoformat() == "2026-07-01"
    # 14:30 UTC: already the next day in Tokyo, still 30 June in the UK.
    instant = datetime(2026, 6, 30, 14, 30, tzinfo=timezone.utc)
    assert uk_today().isoformat() == "2026-06-30"
