"""The objection code table: parsed from resources/codes.json text handed in by the caller,
or from a practice's correction kept in the register (services/codes.py), validated here.

Codes no primary source confirmed stay marked *verify* (domain brief section 8): the Type 1
and Type 2 withdrawn codes other than Read v2. Other consent codes are refused by name, so a
clinical-system search that picked them up is not read as an objection.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date

from .errors import ValidationError

TYPE1 = "type1"
TYPE2 = "type2"
OBJECTION_TYPES = (TYPE1, TYPE2)
REGISTER = "register"
WITHDRAW = "withdraw"
ACTIONS = (REGISTER, WITHDRAW)
STATUSES = ("current", "legacy")

# National facts, not codes: a practice's correction of the table cannot move them.
TYPE2_CUTOFF = date(2018, 10, 11)
# Consent codes that are not GP data objections, refused by name whatever a practice's table says.
ALWAYS_REFUSED: tuple[tuple[str, str, str], ...] = (
    ("9Nd1.", "XaKII", "another consent code (not a GP data objection)"),
    ("9M1..", "XaJrC", "another consent code (not a GP data objection)"),
    ("9NdH.", "XaNwT", "another consent code (not a GP data objection)"),
)

SHORT_LABELS = {TYPE1: "Type 1", TYPE2: "Type 2"}

_READ_V2_RE = re.compile(r"[0-9A-Za-z]{1,5}\.{0,4}")
_CTV3_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z.]{4}")
_SNOMED_RE = re.compile(r"[1-9][0-9]{5,17}")


@dataclass(frozen=True)
class Code:
    objection: str
    action: str
    meaning: str
    read_v2: str
    ctv3: str
    snomed: str
    status: str
    verify: tuple[str, ...]


@dataclass(frozen=True)
class Match:
    code: Code
    case_folded: bool  # matched only by ignoring letter case (CTV3 codes differ by case)


@dataclass(frozen=True)
class CodeTable:
    codes: tuple[Code, ...]
    type2_cutoff: date
    not_objections: tuple[tuple[str, str, str], ...] = ()  # (read_v2, ctv3, meaning): look-alikes to refuse

    def lookup(self, objection: str, action: str) -> Code:
        for code in self.codes:
            if code.objection == objection and code.action == action:
                return code
        raise KeyError((objection, action))

    def classify(self, text: str) -> Code:
        return self.match(text).code

    def match(self, text: str) -> Match:
        """The objection code a clinical system wrote (Read v2 with or without its final dot,
        CTV3 or SNOMED CT). Exact match first: CTV3 codes differ by letter case, so a match
        found only by ignoring case is flagged for the import summary."""
        raw = (text or "").strip()
        if not raw:
            raise ValidationError("The clinical code is missing.", "code")
        forms = {raw, raw + "."}  # Read v2 codes end with a dot that exports often drop
        for code in self.codes:
            if {code.read_v2, code.ctv3, code.snomed} & forms:
                return Match(code, False)
        for read_v2, ctv3, meaning in self.not_objections:
            if raw in (read_v2, read_v2.rstrip("."), ctv3) or raw.casefold() in (read_v2.casefold(),
                                                                                 read_v2.rstrip(".").casefold(),
                                                                                 ctv3.casefold()):
                raise ValidationError(f"{raw} is not a GP data objection code: it means '{meaning}'.", "code")
        folded = [c for c in self.codes if raw.casefold() in {c.read_v2.casefold(), c.read_v2.rstrip(".").casefold(),
                                                               c.ctv3.casefold()}]
        if len(folded) == 1:
            return Match(folded[0], True)
        raise ValidationError(f"'{raw}' is not a Type 1 or Type 2 objection or withdrawal code "
                              "(Read v2, CTV3 or SNOMED CT) in the code table.", "code")


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise ValueError(f"the field '{dupes[0]}' appears twice in one object")
    return dict(pairs)


def verhoeff_ok(digits: str) -> bool:
    """SNOMED CT identifiers end with a Verhoeff check digit."""
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _VD[c][_VP[i % 8][int(ch)]]
    return c == 0


_VD = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
       [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
       [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
       [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]]
_VP = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
       [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
       [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8]]


def _text(value, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} is not text")
    return value


def parse_code_table(text: str) -> CodeTable:
    """The table, every field checked; ValidationError saying what is wrong (nothing half-read)."""
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
        if not isinstance(data, dict) or not isinstance(data.get("codes"), list):
            raise ValueError("it has no list of codes")
        codes = []
        for i, c in enumerate(data["codes"], start=1):
            if not isinstance(c, dict):
                raise ValueError(f"code {i} is not an object")
            verify = c.get("verify", [])
            if not isinstance(verify, list) or not all(isinstance(v, str) for v in verify):
                raise ValueError(f"code {i}'s verify is not a list of words")
            codes.append(Code(
                objection=_text(c["objection"], f"code {i}'s objection"),
                action=_text(c["action"], f"code {i}'s action"),
                meaning=_text(c["meaning"], f"code {i}'s meaning"),
                read_v2=_text(c["read_v2"], f"code {i}'s read_v2"),
                ctv3=_text(c["ctv3"], f"code {i}'s ctv3"),
                snomed=_text(c["snomed"], f"code {i}'s snomed"),
                status=_text(c["status"], f"code {i}'s status"),
                verify=tuple(verify),
            ))
        cutoff = date.fromisoformat(_text(data["type2_cutoff"], "type2_cutoff"))
        confusables = tuple((_text(c["read_v2"], "a do_not_confuse read_v2"), _text(c["ctv3"], "a do_not_confuse ctv3"),
                             _text(c["meaning"], "a do_not_confuse meaning")) for c in data.get("do_not_confuse", ()))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValidationError(f"The code table is malformed: {exc}", "codes") from exc
    problems = _problems(codes, cutoff, confusables)
    if problems:
        raise ValidationError(f"The code table is not valid: {problems[0]}", "codes")
    # The named refusals stay whatever the table says.
    have = {(r, c) for r, c, _m in confusables}
    confusables += tuple(x for x in ALWAYS_REFUSED if (x[0], x[1]) not in have)
    return CodeTable(tuple(codes), cutoff, confusables)


def _problems(codes: list[Code], cutoff: date, confusables) -> list[str]:
    p = []
    pairs = [(c.objection, c.action) for c in codes]
    wanted = [(t, a) for t in OBJECTION_TYPES for a in ACTIONS]
    for pair in wanted:
        if pairs.count(pair) != 1:
            p.append(f"it must have exactly one code for {pair[0]} {pair[1]} (it has {pairs.count(pair)}).")
    for c in codes:
        name = f"the {c.objection} {c.action} code"
        if (c.objection, c.action) not in wanted:
            p.append(f"{name}: unknown objection type or action.")
        if not c.meaning.strip():
            p.append(f"{name} has no meaning.")
        if len(c.read_v2) != 5 or not _READ_V2_RE.fullmatch(c.read_v2):
            p.append(f"{name}: Read v2 '{c.read_v2}' is not five characters (letters and digits, padded with dots).")
        if not _CTV3_RE.fullmatch(c.ctv3):
            p.append(f"{name}: CTV3 '{c.ctv3}' is not five characters.")
        if not _SNOMED_RE.fullmatch(c.snomed) or not verhoeff_ok(c.snomed):
            p.append(f"{name}: SNOMED CT '{c.snomed}' is not a SNOMED CT identifier (6-18 digits with a valid "
                     "check digit).")
        if c.status not in STATUSES:
            p.append(f"{name}: status '{c.status}' is not one of {', '.join(STATUSES)}.")
    every = [x.casefold() for c in codes for x in (c.read_v2, c.ctv3, c.snomed)]
    clash = sorted({x for x in every if every.count(x) > 1})
    if clash:
        p.append(f"the code {clash[0]} is used twice (letter case ignored).")
    refused = {x.casefold() for r, ctv3, _m in (*confusables, *ALWAYS_REFUSED) for x in (r, r.rstrip("."), ctv3)}
    for c in codes:
        if {c.read_v2.casefold(), c.read_v2.rstrip(".").casefold(), c.ctv3.casefold()} & refused:
            p.append(f"the {c.objection} {c.action} code uses a code that must be refused as not an objection.")
    if cutoff != TYPE2_CUTOFF:
        p.append(f"the Type 2 cut-off is national ({TYPE2_CUTOFF.isoformat()}) and cannot be changed here.")
    return p
