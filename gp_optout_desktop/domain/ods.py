"""ODS practice code: one letter and five digits (e.g. F84003), kept as opaque text."""

import re

from .errors import ValidationError

_ODS_RE = re.compile(r"^[A-Z][0-9]{5}$")


def validate(raw: str) -> str:
    value = str(raw).strip().upper()
    if not _ODS_RE.match(value):
        raise ValidationError("A GP practice ODS code is one letter and five digits, e.g. F84003.", "ods")
    return value
