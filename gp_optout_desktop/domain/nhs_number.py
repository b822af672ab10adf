"""NHS number: normalise, validate (Modulus 11), display 3-3-4."""

from __future__ import annotations

from .errors import ValidationError

_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)


def normalise(raw: str) -> str:
    """Strip spaces and hyphens (as typed at a desk or pasted from a letter)."""
    return "".join(ch for ch in str(raw) if ch not in " -\t")


def check_digit(first_nine: str) -> int | None:
    """The Modulus 11 check digit for nine digits, or None when the remainder gives 10 (never issued)."""
    total = sum(int(d) * w for d, w in zip(first_nine, _WEIGHTS))
    check = 11 - (total % 11)
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def validate(raw: str) -> str:
    """Return the 10-digit form or raise ValidationError saying exactly what is wrong."""
    digits = normalise(raw)
    if not digits:
        raise ValidationError("Enter an NHS number (10 digits).", "nhs_number")
    if not digits.isascii() or not digits.isdigit():
        raise ValidationError("An NHS number has digits only (spaces and hyphens are ignored).", "nhs_number")
    if len(digits) != 10:
        raise ValidationError(f"An NHS number has 10 digits; this has {len(digits)}.", "nhs_number")
    if len(set(digits)) == 1:
        raise ValidationError("An NHS number of one repeated digit is never issued.", "nhs_number")
    expected = check_digit(digits[:9])
    if expected is None:
        raise ValidationError("Not a valid NHS number: these first nine digits are never issued.", "nhs_number")
    if expected != int(digits[9]):
        raise ValidationError("Not a valid NHS number: the check digit does not match (a digit may be mistyped).", "nhs_number")
    return digits


def is_valid(raw: str) -> bool:
    try:
        validate(raw)
    except ValidationError:
        return False
    return True


def display(digits: str) -> str:
    """'9990000018' -> '999 000 0018'."""
    d = normalise(digits)
    return f"{d[:3]} {d[3:6]} {d[6:]}" if len(d) == 10 else d


# Partial Modulus 11 sums for the six digits after "999" (weights 7..2), three digits at a
# time: generating a million synthetic numbers is then table look-ups, not digit loops.
_HIGH = [sum(int(d) * w for d, w in zip(f"{n:03d}", (7, 6, 5))) for n in range(1000)]
_LOW = [sum(int(d) * w for d, w in zip(f"{n:03d}", (4, 3, 2))) for n in range(1000)]
_PREFIX_999 = 9 * 10 + 9 * 9 + 9 * 8
_LOW_TEXT = [f"{n:03d}" for n in range(1000)]


def iter_synthetic(start_serial: int = 0):
    """Valid, distinct NHS numbers beginning 999, in order from ``start_serial`` (test numbers only)."""
    for serial in range(start_serial, 1_000_000):
        high, low = divmod(serial, 1000)
        check = 11 - (_PREFIX_999 + _HIGH[high] + _LOW[low]) % 11
        if check == 10:
            continue
        number = f"999{serial:06d}{0 if check == 11 else check}"
        if number != "9999999999":  # the one repeated-digit number in the range
            yield number


def synthetic(serial: int) -> str:
    """The first valid 999 NHS number at or after ``serial`` (deterministic)."""
    return next(iter_synthetic(serial))


def synthetic_range(count: int) -> list[str]:
    """``count`` distinct valid 999 numbers, in order (about 10/11 of serials give one).
    The same numbers as iter_synthetic, built a thousand at a time (a million-patient demo
    asks for 900,000 of them)."""
    out: list[str] = []
    for high in range(1000):
        if len(out) >= count:
            break
        stem, base = f"999{high:03d}", _PREFIX_999 + _HIGH[high]
        for low in range(1000):
            check = 11 - (base + _LOW[low]) % 11
            if check != 10:
                out.append(f"{stem}{_LOW_TEXT[low]}{0 if check == 11 else check}")
    out = [n for n in out[: count + 1] if n != "9999999999"][:count]
    if len(out) < count:
        raise ValueError("at most about 909,000 synthetic 999 numbers exist")
    return out
