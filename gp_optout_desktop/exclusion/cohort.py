"""The cohort a practice is about to disclose: a CSV of NHS numbers given by the user.

It feeds the national-check file (`gp-optout national-check`): Type 1 objectors are taken
out, and the rest go to NHS England's Check for National Data Opt-outs service, which
returns the ones that may be used. Sending the already-excluded list instead achieves
nothing (domain brief section 8). The national service is reported to reject a whole file
for one invalid number, so an invalid row here refuses the cohort, naming rows only.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..domain import nhs_number
from .consult import _column, _reason
from .errors import CandidateFileError
from .format import nhs_valid

MAX_ROWS_NAMED = 20


def read_cohort(path: Path) -> list[str]:
    """NHS numbers in file order (normalised, each once); CandidateFileError naming bad rows."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CandidateFileError(f"The cohort file {path} does not exist.") from None
    except OSError as exc:
        raise CandidateFileError(f"The cohort file {path} cannot be read ({exc.strerror}).") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CandidateFileError(f"The cohort file is not UTF-8 text (bad byte at offset {exc.start}).") from None
    if not text.strip():
        raise CandidateFileError("The cohort file is empty: it needs a header row naming the NHS number column.")
    numbers: list[str] = []
    seen: set[str] = set()
    bad: list[str] = []
    try:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        header = next(reader)
        col, ncols = _column(header), len(header)
        for rowno, row in enumerate(reader, start=2):
            if not row or row == [""]:
                continue
            if len(row) != ncols:
                bad.append(f"row {rowno}: has {len(row)} fields; the header has {ncols}")
                continue
            nhs = nhs_number.normalise(row[col].strip())
            if not nhs_valid(nhs):
                bad.append(f"row {rowno}: {_reason(row[col]).rstrip('.')}")  # joined into one sentence
            elif nhs not in seen:
                seen.add(nhs)
                numbers.append(nhs)
    except csv.Error as exc:
        raise CandidateFileError(f"The cohort file is not well-formed CSV: {exc}.") from None
    if bad:
        shown = "; ".join(bad[:MAX_ROWS_NAMED]) + (f"; and {len(bad) - MAX_ROWS_NAMED} more" if len(bad) > MAX_ROWS_NAMED else "")
        raise CandidateFileError(f"{len(bad)} row(s) of the cohort file cannot be sent to the national check, so "
                                 f"nothing was written (the service rejects a whole file for one bad row): {shown}.")
    return numbers
