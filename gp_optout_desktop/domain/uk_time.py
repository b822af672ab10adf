"""UK local time (Europe/London), whatever time zone the PC is set to.

"Today", effective dates, letter dates and times shown to users are the practice's dates:
a PC left on UTC, or set to another zone, must not put an objection taken at 00:30 BST on
yesterday's date. On Windows the zone data comes from the ``tzdata`` package.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

UK = ZoneInfo("Europe/London")


def uk(moment: datetime) -> datetime:
    """The same instant in UK local time (a naive datetime is taken to be UTC, as stored)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(UK)


def uk_date(moment: datetime) -> date:
    return uk(moment).date()


def uk_today() -> date:
    return uk_date(datetime.now(timezone.utc))
