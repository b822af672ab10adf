"""Saving letter templates: the practice manager's wording, validated and written by
letters.templates (atomic; the version raised when the wording changes), with the
'edit_templates' permission checked and the save audited with its kind and new version.

Templates are files beside the register, not register rows: the audit row is the record
of who changed the wording of the letters patients receive, and when.
"""

from __future__ import annotations

from pathlib import Path

from ..letters import templates
from ..letters.model import KIND_LABELS
from .changes import ChangeSet
from .session import Session


def save_template(session: Session, kind: str, text: str, directory: str | Path | None = None) -> ChangeSet:
    """Refused (and the refusal audited) without 'edit_templates'; a template with an unknown
    or misplaced field raises letters.templates.TemplateError and nothing is written or audited.
    ``directory``: the templates folder (default: the installed one)."""
    with session.write("edit_templates", changes_register=False) as ctx:
        saved = templates.save_template(text, kind, directory)
        ctx.audit("template.save", detail=f"kind={kind} version={saved.version}")
    label = KIND_LABELS.get(kind, kind).lower()
    return ChangeSet(f"Saved the {label} template as version {saved.version}. Letters printed from now on use it.",
                     ctx.revision, areas=frozenset({"templates"}), data={"template": saved, "kind": kind})
