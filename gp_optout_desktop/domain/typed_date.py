"""Dates as people type them at a desk, in one field: 06/01/1970, 6/1/70, 06011970, 060170,
6.1.1970, 1970-01-06. Day first (UK). A two-digit year is the latest year ending in those
digits that is not after ``today`` (so 85 is 1985, 05 is 2005 in 2026): right for dates of
birth and for dates forms were signed, which are never in the future."""

from __future__ import annotations

import re
from datetime import date

from .errors import ValidationError

_SEPARATED = re.compile(r"^(\d{1,2})[/.\-\s](\d{1,2})[/.\-\s](\d{2}|\d{4})$")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DIGITS = re.compile(r"^(\d{2})(\d{2})(\d{2}|\d{4})$")
HINT = "Type the date as dd/mm/yyyy (6/1/1970, 06011970 and 6/1/70 work too)."




def parse_typed_date(text: str, today: date, field: str = "date") -> date:
    raw = " ".join((text or "").split())
    two_digit_year = False
    m = _ISO.match(raw)
    if m:
        year, month, day = (int(g) for g in m.groups())
    else:
        m = _SEPARATED.match(raw) or _DIGITS.match(raw)
        if not m:
            raise ValidationError(HINT, field)
        day, month = int(m.group(1)), int(m.group(2))
        two_digit_year = len(m.group(3)) == 2
        year = today.year - today.year % 100 + int(m.group(3)) if two_digit_year else int(m.group(3))
    try:
        typed = date(year, month, day)
    except ValueError:
        raise ValidationError(f"There is no such date. {HINT}", field) from None
    if two_digit_year and typed > today:
        typed = typed.replace(year=typed.year - 100)  # a two-digit year means the past
    return typed
