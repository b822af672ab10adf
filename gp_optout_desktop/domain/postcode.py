"""UK postcode: normalise and validate against the BS 7666 shapes.

No pattern proves a postcode exists; this only rejects what cannot be one.
BFPO addresses and NHS pseudo-postcodes (ZZ99 ...) are accepted with a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ValidationError

_INWARD = "[0-9][ABD-HJLNP-UW-Z]{2}"  # inward letters never C I K M O V
_FIRST = "[A-PR-UWYZ]"  # not Q V X
_SECOND = "[A-HK-Y]"  # not I J Z
_THIRD = "[A-HJKSTUW]"  # third position of ANA
_FOURTH = "[ABEHMNPRVWXY]"  # fourth position of AANA
_OUTWARD = (
    f"{_FIRST}[0-9]"  # AN
    f"|{_FIRST}[0-9]{{2}}"  # ANN
    f"|{_FIRST}{_SECOND}[0-9]"  # AAN
    f"|{_FIRST}{_SECOND}[0-9]{{2}}"  # AANN
    f"|{_FIRST}[0-9]{_THIRD}"  # ANA
    f"|{_FIRST}{_SECOND}[0-9]{_FOURTH}"  # AANA
)
_POSTCODE_RE = re.compile(f"^(?:{_OUTWARD}) {_INWARD}$")
_PSEUDO_RE = re.compile(r"^ZZ99 [0-9][A-Z]{2}$")
_BFPO_RE = re.compile(r"^BFPO ?[0-9]{1,4}$")


@dataclass(frozen=True)
class Postcode:
    value: str
    warning: str | None = None


def normalise(raw: str) -> str:
    """Upper-case, collapse spaces, one space before the last three characters."""
    compact = "".join(str(raw).upper().split())
    if compact.startswith("BFPO"):
        return f"BFPO {compact[4:]}".strip()
    if len(compact) > 3:
        return f"{compact[:-3]} {compact[-3:]}"
    return compact


def validate(raw: str) -> Postcode:
    value = normalise(raw)
    if not value:
        raise ValidationError("Enter a postcode.", "postcode")
    if value == "GIR 0AA":
        return Postcode(value)
    if _BFPO_RE.match(value):
        return Postcode(value, "BFPO address accepted: check the forces address lines are complete.")
    if _PSEUDO_RE.match(value):
        return Postcode(value, "NHS pseudo-postcode (ZZ99) accepted: the patient has no fixed or known UK address.")
    if _POSTCODE_RE.match(value):
        return Postcode(value)
    if len(value.replace(" ", "")) < 5 or len(value.replace(" ", "")) > 7:
        raise ValidationError(f"A postcode has 5 to 7 letters and digits; '{value}' does not.", "postcode")
    if not re.match(r"^[A-Z0-9 ]+$", value):
        raise ValidationError("A postcode has letters and digits only.", "postcode")
    if not re.search(f" {_INWARD}$", value):
        raise ValidationError(
            f"'{value}' is not a UK postcode: the last part must be a digit and two letters (not C, I, K, M, O or V).",
            "postcode",
        )
    raise ValidationError(f"'{value}' is not a UK postcode: the first part does not match any UK format.", "postcode")


def search_key(raw: str) -> str:
    """Postcode without spaces, for searching whatever spacing the user typed."""
    return "".join(str(raw).upper().split())
