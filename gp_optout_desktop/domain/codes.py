"""The objection code table: parsed from resources/codes.json text handed in by the caller."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from .errors import ValidationError

TYPE1 = "type1"
TYPE2 = "type2"
OBJECTION_TYPES = (TYPE1, TYPE2)
REGISTER = "register"
WITHDRAW = "withdraw"
ACTIONS = (REGISTER, WITHDRAW)

TYPE_LABELS = {
    TYPE1: "Type 1 (GP data must not leave the practice except for direct care)",
    TYPE2: "Type 2 (legacy: NHS Digital must not share identifiable data)",
}
SHORT_LABELS = {TYPE1: "Type 1", TYPE2: "Type 2"}


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
        """The objection code a clinical system wrote (Read v2 with or without its final dot,
        CTV3 or SNOMED CT). Exact match first: CTV3 codes differ by letter case."""
        raw = (text or "").strip()
        if not raw:
            raise ValidationError("The clinical code is missing.", "code")
        forms = {raw, raw + "."}  # Read v2 codes end with a dot that exports often drop
        for code in self.codes:
            if {code.read_v2, code.ctv3, code.snomed} & forms:
                return code
        folded = [c for c in self.codes if raw.casefold() in {c.read_v2.casefold(), c.read_v2.rstrip(".").casefold(),
                                                               c.ctv3.casefold()}]
        if len(folded) == 1:
            return folded[0]
        for read_v2, ctv3, meaning in self.not_objections:
            if raw in (read_v2, read_v2.rstrip("."), ctv3):
                raise ValidationError(f"{raw} is not a GP data objection code: it means '{meaning}'.", "code")
        raise ValidationError(f"'{raw}' is not a Type 1 or Type 2 objection or withdrawal code "
                              "(Read v2, CTV3 or SNOMED CT) in the code table.", "code")


def parse_code_table(text: str) -> CodeTable:
    try:
        data = json.loads(text)
        codes = tuple(
            Code(
                objection=c["objection"],
                action=c["action"],
                meaning=c["meaning"],
                read_v2=c["read_v2"],
                ctv3=c["ctv3"],
                snomed=c["snomed"],
                status=c["status"],
                verify=tuple(c.get("verify", ())),
            )
            for c in data["codes"]
        )
        cutoff = date.fromisoformat(data["type2_cutoff"])
        confusables = tuple((c["read_v2"], c["ctv3"], c["meaning"]) for c in data.get("do_not_confuse", ()))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationError(f"The code table is malformed: {exc}") from exc
    wanted = {(t, a) for t in OBJECTION_TYPES for a in ACTIONS}
    have = {(c.objection, c.action) for c in codes}
    if wanted - have:
        raise ValidationError(f"The code table lacks codes for {sorted(wanted - have)}")
    return CodeTable(codes, cutoff, confusables)
