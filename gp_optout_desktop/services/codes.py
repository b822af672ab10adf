"""The practice corrects the objection code table without a new release (issue 10 section 6).

Practice manager only. A new table is validated in full (domain.codes.parse_code_table) before
anything is written, saved as a new version in the register (encrypted, backed up, restored
with it), and audited with a digest of the text and the reason. Every version is kept; the
newest is in force for every session (Session.codes reads the register's version).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..domain import codes as codes_mod
from ..domain.errors import ValidationError
from ..store import codes_repo
from .changes import ChangeSet
from .session import Session, shipped_code_table_text

MAX_TABLE_CHARS = 200_000


@dataclass(frozen=True)
class TableInForce:
    table: codes_mod.CodeTable
    text: str
    version: int  # 0: the shipped table, never corrected here
    saved: codes_repo.SavedTable | None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def in_force(session: Session) -> TableInForce:
    with session.read_store("view_patient") as store:  # either engine (store/backend.py)
        saved = store.code_table_current()
    text = saved.text if saved is not None and saved.text is not None else shipped_code_table_text()
    return TableInForce(codes_mod.parse_code_table(text), text, saved.version if saved else 0, saved)


def history(session: Session) -> list[codes_repo.SavedTable]:
    with session.read_store("edit_codes") as store:
        return store.code_table_versions()


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Say why the code table is being changed (for example, the clinical safety officer's "
                              "confirmation of a code).", "reason")
    return reason


def save(session: Session, text: str, reason: str) -> ChangeSet:
    """Validate and save a corrected table; nothing is written if any check fails."""
    session.require("edit_codes")
    reason = _reason(reason)
    if len(text) > MAX_TABLE_CHARS:
        raise ValidationError(f"The code table is longer than {MAX_TABLE_CHARS:,} characters: not a code table.",
                              "codes")
    table = codes_mod.parse_code_table(text)  # raises ValidationError with the first problem
    old = in_force(session)
    if text == old.text:
        raise ValidationError("This is the code table already in force: nothing was changed.", "codes")
    changed = _differences(old.table, table)
    with session.write("edit_codes") as ctx:
        version = ctx.store.insert_code_table(text, reason, session.user, session.now())
        ctx.audit("codes.save", detail=f"version={version} sha256={_digest(text)} changed={';'.join(changed)[:200]} "
                                       f"reason={reason[:200]}")
    summary = (f"Code table version {version} saved and in force ({len(changed)} change(s): "
               f"{'; '.join(changed) or 'wording only'}). Export the exclusion file again if a listed code changed.")
    return ChangeSet(summary, ctx.revision, areas=frozenset({"codes", "export"}), data={"version": version})


def reset(session: Session, reason: str) -> ChangeSet:
    """Back to the table shipped with this release (a new version too: the history stays)."""
    session.require("edit_codes")
    reason = _reason(reason)
    if in_force(session).saved is None or in_force(session).saved.text is None:
        raise ValidationError("The shipped code table is already in force: nothing was changed.", "codes")
    with session.write("edit_codes") as ctx:
        version = ctx.store.insert_code_table(None, reason, session.user, session.now())
        ctx.audit("codes.reset", detail=f"version={version} reason={reason[:200]}")
    return ChangeSet(f"Code table version {version}: back to the table shipped with this release.", ctx.revision,
                     areas=frozenset({"codes", "export"}), data={"version": version})


def _differences(old: codes_mod.CodeTable, new: codes_mod.CodeTable) -> list[str]:
    out = []
    for code in new.codes:
        before = old.lookup(code.objection, code.action)
        for field in ("read_v2", "ctv3", "snomed", "status", "verify", "meaning"):
            if getattr(before, field) != getattr(code, field):
                out.append(f"{code.objection} {code.action} {field}")
    if {x[:2] for x in old.not_objections} != {x[:2] for x in new.not_objections}:
        out.append("codes refused as not objections")
    return out
