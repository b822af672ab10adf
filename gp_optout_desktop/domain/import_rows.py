"""Reading a list of objections coded in the practice's clinical system, so a practice that
starts using the register brings its history with it instead of retyping it.

One CSV row per coded event: the patient (NHS number, surname, forenames, date of birth,
postcode, optionally title and address lines) and the code with its date. Column names
are matched loosely, as clinical system searches name them differently; Windows exports
(a byte-order mark, CRLF) are fine. Every row is checked before anything is written:
one bad row and nothing is imported. Problems name the row and the column, never the
patient (the list may end up in an email to a supplier).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from functools import lru_cache
from datetime import date, datetime

from .codes import REGISTER, TYPE2, CodeTable
from .errors import ValidationError
from .patient import Patient, validate_patient

COLUMNS = {
    "nhs": ("nhs number", "nhs no", "nhs", "nhs_number", "nhsnumber"),
    "surname": ("surname", "family name", "last name"),
    "forenames": ("forenames", "forename", "forename(s)", "given name", "given names", "first name", "first names"),
    "dob": ("date of birth", "dob", "birth date"),
    "postcode": ("postcode", "post code"),
    "code": ("code", "clinical code", "read code", "snomed code", "snomed ct", "concept id"),
    "date": ("date", "code date", "event date", "effective date", "effective"),
    # The day the code was added to the record in the clinical system, when the export has it
    # apart from the code's date: the Type 2 cut-off is on this day.
    "added": ("date recorded", "recorded date", "date added", "date entered", "entered date", "added date"),
    "title": ("title",),
    "address1": ("address line 1", "address 1", "address1", "address"),
    "address2": ("address line 2", "address 2", "address2"),
    "address3": ("address line 3", "address 3", "address3"),
}
REQUIRED = ("nhs", "surname", "forenames", "dob", "postcode", "code", "date")
LABELS = {"nhs": "NHS number", "surname": "surname", "forenames": "forenames", "dob": "date of birth",
          "postcode": "postcode", "code": "clinical code", "date": "code date", "added": "date recorded"}
DATE_FORMS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%d-%b-%Y", "%d %b %Y", "%d/%m/%y")
MAX_ROWS = 2_000_000


@dataclass(frozen=True)
class ImportRow:
    row: int  # the row's number in the file as a spreadsheet shows it: its CSV record (the header is row 1)
    patient: Patient
    kind: str
    action: str
    effective: date
    added: date  # the day the clinical system added the code (its own date: kept, never today's)
    case_folded: bool = False  # the code matched the table only by ignoring letter case


@dataclass(frozen=True)
class Problem:
    row: int
    message: str

    def __str__(self) -> str:
        return f"Row {self.row}: {self.message}"


class ImportRefused(ValidationError):
    """The file cannot be imported; ``problems`` lists each row and why (nothing was written)."""

    def __init__(self, message: str, problems: tuple[Problem, ...] = ()):
        super().__init__(message, "import")
        self.problems = problems


def _key(name: str) -> str:
    return re.sub(r"[\s_]+", " ", (name or "").strip().casefold())


def _columns(header: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, name in enumerate(header):
        for field, names in COLUMNS.items():
            if _key(name) in names and field not in found:
                found[field] = index
    if "date" not in found and "added" in found:
        found["date"] = found["added"]  # one date column, named "date recorded": it is both
    missing = [LABELS[f] for f in REQUIRED if f not in found]
    if missing:
        raise ImportRefused(f"The first line must name the columns; missing: {', '.join(missing)}. Nothing was imported.")
    return found


def parse_date(text: str, what: str) -> date:
    found = _parse_date(" ".join((text or "").split()))
    if found is None:
        raise ValidationError(f"the {what} is not a date (use dd/mm/yyyy or yyyy-mm-dd)", what)
    return found


_QUICK = re.compile(r"(?P<iso>(?P<y1>\d{4})-(?P<m1>\d\d)-(?P<d1>\d\d))"
                    r"|(?P<slash>(?P<d2>\d{1,2})/(?P<m2>\d{1,2})/(?P<y2>\d{4}))"
                    r"|(?P<d3>\d{1,2})-(?P<mon>[A-Za-z]{3})-(?P<y3>\d{4})")
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                       "dec"), start=1)}


@lru_cache(maxsize=65536)
def _parse_date(raw: str) -> date | None:
    """The same DATE_FORMS, tried in order; cached because an export repeats its dates (a
    15,000-row file spent most of its reading time in strptime trying the forms one by one).
    The three forms exports use most are read directly; anything else goes through strptime."""
    m = _QUICK.fullmatch(raw)
    if m:
        try:
            if m["iso"]:
                return date(int(m["y1"]), int(m["m1"]), int(m["d1"]))
            if m["slash"]:
                return date(int(m["y2"]), int(m["m2"]), int(m["d2"]))
            month = _MONTHS.get(m["mon"].casefold())
            if month:
                return date(int(m["y3"]), month, int(m["d3"]))
        except ValueError:
            return None
    for form in DATE_FORMS:
        try:
            return datetime.strptime(raw, form).date()
        except ValueError:
            continue  # why: not this form; the next one is tried, and None says none fitted
    return None


DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}


def sniff_delimiter(text: str) -> str:
    """The separator the header line uses: comma, or semicolon (Excel and clinical-system exports
    where the decimal mark is a comma) or tab, whichever splits the header most often outside quotes."""
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    bare = re.sub(r'"[^"]*"', "", first)
    counts = {d: bare.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


class LateType2(ValidationError):
    """A Type 2 objection added to the record after the cut-off: never processed nationally."""


def read_rows(text: str, codes: CodeTable, today: date, delimiter: str = ",",
              late_type2: list[int] | None = None) -> list[ImportRow]:
    """Every row checked; raises ImportRefused listing every problem if any row is bad.
    With ``late_type2`` (a list), a late Type 2 row is set aside there by row number instead
    of being a problem: reconciliation reports it, an import refuses it."""
    text = text.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportRefused("The file is empty. Nothing was imported.") from None
    except csv.Error as exc:
        raise ImportRefused(f"The first line is not CSV ({exc}). Nothing was imported.") from None
    cols = _columns(header)
    rows: list[ImportRow] = []
    problems: list[Problem] = []
    # Rows are counted as CSV records, not lines: a quoted cell may hold a line break (an
    # address), and the user finds the row by the number a spreadsheet gives it.
    line = 1  # the header
    try:
        for values in reader:
            line += 1
            if not any(v.strip() for v in values):
                continue  # blank lines, e.g. a trailing one
            if len(rows) + len(problems) >= MAX_ROWS:
                raise ImportRefused(f"The file has more than {MAX_ROWS:,} rows. Nothing was imported.")
            try:
                rows.append(_row(line, values, cols, codes, today))
            except LateType2 as exc:
                if late_type2 is None:
                    problems.append(Problem(line, str(exc)))
                else:
                    late_type2.append(line)
            except ValidationError as exc:
                problems.append(Problem(line, str(exc)))
    except csv.Error as exc:
        problems.append(Problem(line + 1, f"not readable as CSV ({exc})"))  # the record it could not read
    if problems:
        raise ImportRefused(f"{len(problems):,} row{'s' if len(problems) != 1 else ''} cannot be imported, so nothing "
                            "was imported. Correct the file and try again.", tuple(problems))
    if not rows and not late_type2:
        raise ImportRefused("The file has a header but no rows. Nothing was imported.")
    return rows


def _row(line: int, values: list[str], cols: dict[str, int], codes: CodeTable, today: date) -> ImportRow:
    n = len(values)
    got = {field: values[index].strip() if index < n else "" for field, index in cols.items()}  # each cell once
    get = lambda field: got.get(field, "")  # noqa: E731 - a lookup, not logic

    for field in REQUIRED:
        if not get(field):
            raise ValidationError(f"the {LABELS[field]} is missing", field)
    matched = codes.match(get("code"))
    code = matched.code
    effective = parse_date(get("date"), "code date")
    if effective > today:
        raise ValidationError("the code date is in the future", "date")
    added = parse_date(get("added"), "date recorded") if get("added") else effective
    if added > today:
        raise ValidationError("the date recorded is in the future", "added")
    if code.objection == TYPE2 and code.action == REGISTER and added > codes.type2_cutoff:
        raise LateType2(
            f"a Type 2 objection added to the record after {codes.type2_cutoff:%d %b %Y} (the clinical system's "
            "date) was not processed nationally and cannot be recorded: take the row out, and send the patient the "
            "'Type 2 recorded in error' letter (from the patient's record), which signposts the National Data "
            "Opt-out", "code")
    try:
        patient = validate_patient(
            surname=get("surname"), forenames=get("forenames"), dob=parse_date(get("dob"), "date of birth"),
            postcode_raw=get("postcode"), nhs=get("nhs"), title=get("title"),
            address=[get("address1"), get("address2"), get("address3")], today=today)
    except ValidationError as exc:
        # The desk's messages may quote what was typed (a postcode): a problem list quotes nothing.
        raise ValidationError(re.sub(r"'[^']*'", "it", str(exc)), exc.field) from None
    return ImportRow(line, patient, code.objection, code.action, effective, added, matched.case_folded)
