"""Reading the practice's list of patients, as the clinical system's registered-patients
search exports it, so the register follows the practice: who is registered, who left
(deducted, transferred out), who died, who is a temporary resident, and whose NHS number
was superseded when records were merged.

One CSV row per patient. Column names are matched loosely (as in the objections import);
every row is checked before anything is written, and problems name the row, never the
patient.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date

from . import nhs_number
from .errors import ValidationError
from .import_rows import ImportRefused, Problem, _key, parse_date
from .patient import Patient, validate_patient

REGISTERED = "registered"
DEDUCTED = "deducted"
DECEASED = "deceased"
TEMPORARY = "temporary"
MERGED = "merged"  # never in a file: set on a record whose NHS number was superseded by another's
STATES = (REGISTERED, DEDUCTED, DECEASED, TEMPORARY, MERGED)
# Who no longer gets letters, notices or codes added: they stay in the history for retention.
INACTIVE = (DEDUCTED, DECEASED, MERGED)
LABELS = {REGISTERED: "registered", DEDUCTED: "left the practice (deducted)", DECEASED: "deceased",
          TEMPORARY: "temporary resident", MERGED: "merged into another record"}

# What clinical systems call each state (lower case, spaces normalised).
STATUS_WORDS = {
    REGISTERED: ("registered", "current", "active", "permanent", "gms", "regular", "r"),
    DEDUCTED: ("deducted", "left", "removed", "transferred out", "transferred", "ex-patient", "inactive", "d"),
    DECEASED: ("deceased", "died", "dead", "death"),
    TEMPORARY: ("temporary", "temporary resident", "temp", "t"),
}
COLUMNS = {
    "nhs": ("nhs number", "nhs no", "nhs", "nhs_number", "nhsnumber"),
    "surname": ("surname", "family name", "last name"),
    "forenames": ("forenames", "forename", "forename(s)", "given name", "given names", "first name", "first names"),
    "dob": ("date of birth", "dob", "birth date"),
    "postcode": ("postcode", "post code"),
    "status": ("registration status", "status", "registration type", "reg status"),
    "registered": ("registration date", "registered", "date registered", "reg date", "registered on"),
    "died": ("date of death", "died", "death date", "dod"),
    "previous": ("previous nhs number", "superseded nhs number", "old nhs number", "merged from"),
    "title": ("title",),
    "address1": ("address line 1", "address 1", "address1", "address"),
    "address2": ("address line 2", "address 2", "address2"),
    "address3": ("address line 3", "address 3", "address3"),
}
REQUIRED = ("nhs", "surname", "forenames", "dob", "postcode", "status")
NAMES = {"nhs": "NHS number", "surname": "surname", "forenames": "forenames", "dob": "date of birth",
         "postcode": "postcode", "status": "registration status"}
MAX_ROWS = 2_000_000


@dataclass(frozen=True)
class ListRow:
    row: int  # the row's number as a spreadsheet shows it: its CSV record (the header is row 1)
    patient: Patient
    status: str
    since: date | None  # registration date, as the clinical system holds it
    died_on: date | None
    previous_nhs: str | None  # superseded by this row's NHS number (records merged)


def _status(text: str) -> str:
    word = " ".join(text.casefold().replace("_", " ").split())
    for state, words in STATUS_WORDS.items():
        if word in words:
            return state
    raise ValidationError("the registration status is not one of registered, deducted, deceased or temporary",
                          "status")


def _columns(header: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, name in enumerate(header):
        for field, names in COLUMNS.items():
            if _key(name) in names and field not in found:
                found[field] = index
    missing = [NAMES[f] for f in REQUIRED if f not in found]
    if missing:
        raise ImportRefused(f"The first line must name the columns; missing: {', '.join(missing)}. "
                            "Nothing was imported.")
    return found


def read_list(text: str, today: date) -> list[ListRow]:
    """Every row checked; raises ImportRefused listing every problem if any row is bad."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ImportRefused("The file is empty. Nothing was imported.") from None
    except csv.Error as exc:
        raise ImportRefused(f"The first line is not CSV ({exc}). Nothing was imported.") from None
    cols = _columns(header)
    rows: list[ListRow] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    line = 1  # the header: rows are CSV records, as in import_rows (an address cell may hold a line break)
    try:
        for values in reader:
            line += 1
            if not any(v.strip() for v in values):
                continue
            if len(rows) + len(problems) >= MAX_ROWS:
                raise ImportRefused(f"The file has more than {MAX_ROWS:,} rows. Nothing was imported.")
            try:
                row = _row(line, values, cols, today)
            except ValidationError as exc:
                problems.append(Problem(line, str(exc)))
                continue
            nhs = row.patient.nhs_number
            if nhs in seen:
                problems.append(Problem(line, f"the same NHS number as row {seen[nhs]}"))
                continue
            seen[nhs] = line
            rows.append(row)
    except csv.Error as exc:
        problems.append(Problem(line + 1, f"not readable as CSV ({exc})"))  # the record it could not read
    for row in rows:
        if row.previous_nhs and row.previous_nhs in seen:
            problems.append(Problem(row.row, f"the previous NHS number is also listed as a patient in row "
                                             f"{seen[row.previous_nhs]}: a superseded number is not a patient"))
    if problems:
        raise ImportRefused(f"{len(problems):,} row{'s' if len(problems) != 1 else ''} cannot be imported, so "
                            "nothing was imported. Correct the file and try again.",
                            tuple(sorted(problems, key=lambda p: p.row)))
    if not rows:
        raise ImportRefused("The file has a header but no rows. Nothing was imported.")
    return rows


def _row(line: int, values: list[str], cols: dict[str, int], today: date) -> ListRow:
    width = len(values)
    f = {name: values[i].strip() if i < width else "" for name, i in cols.items()}
    get = lambda field: f.get(field, "")  # noqa: E731 - a column the file does not have is empty

    for field in REQUIRED:
        if not f[field]:
            raise ValidationError(f"the {NAMES[field]} is missing", field)
    status = _status(f["status"])
    dob = parse_date(f["dob"], "date of birth")
    since = parse_date(get("registered"), "registration date") if get("registered") else None
    died = parse_date(get("died"), "date of death") if get("died") else None
    if status == DECEASED and died is None:
        raise ValidationError("a deceased patient needs the date of death", "died")
    if died is not None and status != DECEASED:
        raise ValidationError("a date of death is given but the status is not deceased", "died")
    for when, what in ((since, "registration date"), (died, "date of death")):
        if when is not None and (when > today or when < dob):
            raise ValidationError(f"the {what} is {'in the future' if when > today else 'before the date of birth'}",
                                  "date")
    try:
        previous = nhs_number.validate(get("previous")) if get("previous") else None
        patient = validate_patient(
            surname=get("surname"), forenames=get("forenames"), dob=dob, postcode_raw=get("postcode"),
            nhs=get("nhs"), title=get("title"), address=[get("address1"), get("address2"), get("address3")],
            today=today)
    except ValidationError as exc:
        # The desk's messages may quote what was typed: a problem list quotes nothing.
        # Said as the objections import says it: "'QQ1 1QQ' is not ..." -> "it is not ...".
        raise ValidationError(re.sub(r"'[^']*'", "it", str(exc)), exc.field) from None
    if previous == patient.nhs_number:
        raise ValidationError("the previous NHS number is the same as the NHS number", "previous")
    return ListRow(line, patient, status, since, died, previous)
