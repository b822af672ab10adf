"""Filter a candidate extraction list through a verified exclusion set.

Input: a CSV with a header row and an NHS number column (found by name, any case; a UTF-8
BOM and CRLF line endings from Windows tools are fine). Output: the same header and only
the rows that may be extracted, in the input's own order, BOM and line endings. Invalid
NHS numbers are held back and reported by row number (the header is row 1, as in a
spreadsheet). Any failure replaces the output with an empty file and raises, so a stale
allowed list from an earlier run can never be picked up by mistake.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..domain import nhs_number
from ..domain.errors import ValidationError
from ..domain.exclusion_rules import EXCLUDE_LISTED
from . import state
from .errors import CandidateFileError, ExclusionError
from .format import Manifest, all_nhs_valid, nhs_valid
from .fsutil import replace_file_atomically
from .reader import ExclusionSet, load_public_key, read_export
from ..problem_log import log_problem

log = logging.getLogger(__name__)

NHS_COLUMN_NAMES = frozenset({"nhsnumber", "nhsno", "nhsnum"})
_BOM = "\ufeff"


@dataclass(frozen=True)
class ConsultResult:
    candidates: int
    allowed: int
    held_back_by_set: int
    invalid_rows: tuple[tuple[int, str], ...]  # (row number, reason); never the number itself
    out_path: Path
    manifest: Manifest

    @property
    def held_back(self) -> int:
        return self.candidates - self.allowed


def filter_candidates(
    exclusions_dir: Path,
    public_key: Ed25519PublicKey | Path | str,
    candidates_path: Path,
    out_path: Path,
    *,
    practice_ods: str,
    state_path: Path,
    now: datetime | None = None,
) -> ConsultResult:
    """``practice_ods`` and ``state_path`` are required, with no value that skips their checks."""
    candidates_path, out_path = Path(candidates_path), Path(out_path)
    if out_path.resolve() == candidates_path.resolve():
        raise CandidateFileError("The output file must not be the candidate file itself.")
    try:
        if not isinstance(public_key, Ed25519PublicKey):
            public_key = load_public_key(Path(public_key))
        exset = read_export(exclusions_dir, public_key, practice_ods=practice_ods, state_path=state_path, now=now)
        result = _filter(exset, candidates_path, out_path)
        state.record_seen(Path(state_path), exset.manifest)
        return result
    except (ExclusionError, OSError):
        _clear(out_path)
        raise


def _clear(out_path: Path) -> None:
    try:
        if out_path.parent.is_dir():
            replace_file_atomically(out_path, b"")
    except OSError as exc:  # why: the original error is the one reported to the user
        log_problem(log, "The consult output could not be emptied after a refused consult", exc)


def _filter(exset: ExclusionSet, candidates_path: Path, out_path: Path) -> ConsultResult:
    try:
        raw = candidates_path.read_bytes()
    except FileNotFoundError:
        raise CandidateFileError(f"The candidate file {candidates_path} does not exist.") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CandidateFileError(f"The candidate file is not UTF-8 text (bad byte at offset {exc.start}).") from None
    bom = text.startswith(_BOM)
    if bom:
        text = text[1:]
    if not text.strip():
        raise CandidateFileError("The candidate file is empty: it needs a header row naming the NHS number column.")
    first_line = text.split("\n", 1)[0]
    newline = "\r\n" if first_line.endswith("\r") else "\n"
    listed_means_allowed = exset.manifest.mode != EXCLUDE_LISTED
    numbers = exset.nhs_numbers

    crlf = text.count("\r\n") if newline == "\r\n" else 0
    plain = '"' not in text and text.count("\r") == crlf and (not crlf or text.count("\n") == crlf)
    if plain:
        with _gc_paused():
            header, kept, total, invalid = _filter_plain(text, newline, numbers, listed_means_allowed)
        body = newline.join([header, *kept]) + newline
    else:
        header_row, kept_rows, total, invalid = _filter_csv(text, numbers, listed_means_allowed)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator=newline)
        writer.writerow(header_row)
        writer.writerows(kept_rows)
        body = buf.getvalue()
        kept = kept_rows
    out = ((_BOM if bom else "") + body).encode("utf-8")
    replace_file_atomically(out_path, out)
    allowed = len(kept)
    return ConsultResult(
        candidates=total,
        allowed=allowed,
        held_back_by_set=total - allowed - len(invalid),
        invalid_rows=tuple(invalid),
        out_path=out_path,
        manifest=exset.manifest,
    )


def _column(header: list[str]) -> int:
    keys = [re.sub(r"[\s_.\-]", "", h.strip().lower()) for h in header]
    hits = [i for i, k in enumerate(keys) if k in NHS_COLUMN_NAMES]
    if not hits:
        shown = ", ".join(repr(h) for h in header[:20])
        raise CandidateFileError(
            f"The candidate file has no NHS number column (a header such as 'nhs_number' or 'NHS Number'); its header is: {shown}."
        )
    if len(hits) > 1:
        raise CandidateFileError("The candidate file has more than one NHS number column; keep exactly one.")
    return hits[0]


def _reason(raw: str) -> str:
    try:
        nhs_number.validate(raw)
    except ValidationError as exc:
        return str(exc)
    return "not a valid NHS number"


@contextlib.contextmanager
def _gc_paused():
    """A million small lists and strings, none cyclic: the cyclic collector would only rescan them."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _filter_plain(text: str, newline: str, numbers: frozenset, listed_means_allowed: bool):
    """No quotes and one kind of line ending: split directly and copy kept lines unchanged."""
    lines = text.split(newline)
    if lines and lines[-1] == "":
        lines.pop()
    header = lines[0]
    columns = header.split(",")
    col, ncols = _column(columns), len(columns)
    body = lines[1:]
    fast = _filter_uniform(body, col, ncols, numbers, listed_means_allowed)
    if fast is not None:
        kept, invalid = fast
        return header, kept, len(body), invalid
    kept, invalid, total = [], [], 0
    for rowno, line in enumerate(body, start=2):
        if not line:
            continue  # a blank line is no candidate
        total += 1
        if ncols == 1:
            raw = line
        else:
            if line.count(",") != ncols - 1:
                invalid.append((rowno, f"has {line.count(',') + 1} fields; the header has {ncols}."))
                continue
            raw = line.split(",", col + 1)[col]
        nhs = raw if len(raw) == 10 else nhs_number.normalise(raw.strip())
        if not nhs_valid(nhs):
            invalid.append((rowno, _reason(raw)))
        elif (nhs in numbers) is listed_means_allowed:
            kept.append(line)
    return header, kept, total, invalid


def _filter_uniform(body: list[str], col: int, ncols: int, numbers: frozenset, listed_means_allowed: bool):
    """The common case (no blank lines, every row the header's width) with comprehensions,
    which run about a quarter faster than the general loop; None when the case does not apply."""
    if ncols == 1:
        if not all(body):
            return None
        raws = body
    else:
        sep = ncols - 1
        if not all(line.count(",") == sep for line in body):
            return None
        raws = [line.split(",", col + 1)[col] for line in body]
    valid = _valid_flags(raws)
    invalid = []
    if not all(valid):
        raws = list(raws)
        for i in [i for i, ok in enumerate(valid) if not ok]:
            nhs = nhs_number.normalise(raws[i].strip())  # '999 000 0018' as typed is fine
            if nhs_valid(nhs):
                raws[i], valid[i] = nhs, True
            else:
                invalid.append((i + 2, _reason(raws[i])))
    if listed_means_allowed:
        kept = [line for line, raw, ok in zip(body, raws, valid) if ok and raw in numbers]
    else:
        kept = [line for line, raw, ok in zip(body, raws, valid) if ok and raw not in numbers]
    return kept, invalid


_CHUNK = 50_000


def _valid_flags(raws: list[str]) -> list[bool]:
    """nhs_valid of each, a chunk at a time: a chunk whose numbers are all valid (nearly
    always) is checked at C speed by all_nhs_valid, about twice as fast; any other by
    nhs_valid one at a time, to find which."""
    flags: list[bool] = []
    for start in range(0, len(raws), _CHUNK):
        chunk = raws[start:start + _CHUNK]
        flags += [True] * len(chunk) if all_nhs_valid(chunk) else map(nhs_valid, chunk)
    return flags


def _filter_csv(text: str, numbers: frozenset, listed_means_allowed: bool):
    """Quoted fields (maybe with commas or line breaks inside): the csv module decides."""
    try:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        header = next(reader)
        col, ncols = _column(header), len(header)
        kept, invalid, total = [], [], 0
        for rowno, row in enumerate(reader, start=2):
            if not row or row == [""]:
                continue
            total += 1
            if len(row) != ncols:
                invalid.append((rowno, f"has {len(row)} fields; the header has {ncols}."))
                continue
            raw = row[col]
            nhs = nhs_number.normalise(raw.strip())
            if not nhs_valid(nhs):
                invalid.append((rowno, _reason(raw)))
            elif (nhs in numbers) is listed_means_allowed:
                kept.append(row)
    except csv.Error as exc:
        raise CandidateFileError(f"The candidate file is not well-formed CSV: {exc}.") from None
    return header, kept, total, invalid
