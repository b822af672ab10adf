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

    def lookup(self, objection: str, action: str) -> Code:
        for code in self.codes:
            if code.objection == objection and code.action == action:
                return code
        raise KeyError((objection, action))


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
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationError(f"The code table is malformed: {exc}") from exc
    wanted = {(t, a) for t in OBJECTION_TYPES for a in ACTIONS}
    have = {(c.objection, c.action) for c in codes}
    if wanted - have:
        raise ValidationError(f"The code table lacks codes for {sorted(wanted - have)}")
    return CodeTable(codes, cutoff)
