"""The practice's date and time: a stored naive time is UTC, and "today" is the UK's today."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from gp_optout_desktop.domain.uk_time import UK, uk, uk_date, uk_today


def test_a_naive_stored_time_is_read_as_utc():
    summer = uk(datetime(2026, 7, 1, 23, 30))
    assert summer == datetime(2026, 7, 2, 0, 30, tzinfo=UK) and summer.utcoffset() == timedelta(hours=1)
    assert uk_date(datetime(2026, 7, 1, 23, 30)).isoformat() == "2026-07-02"
    assert uk_date(datetime(2026, 12, 1, 23, 30)).isoformat() == "2026-12-01"


def test_an_aware_time_keeps_its_instant():
    tokyo = datetime(2026, 7, 2, 8, 30, tzinfo=timezone(timedelta(hours=9)))
    assert uk(tokyo) == tokyo and uk(tokyo).hour == 0 and uk(tokyo).tzinfo is UK


def test_today_is_the_uk_date_now():
    before = uk_date(datetime.now(timezone.utc))
    today = uk_today()
    after = uk_date(datetime.now(timezone.utc))
    assert today in (before, after)
