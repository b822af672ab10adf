"""Letter templates: the practice's own wording, kept in the register, else the wording
installed with the app.

In the register, not in the installation folder: that folder is often not writable
(Program Files), and the wording belongs to the practice's register, so it is encrypted,
backed up and restored with it. Saving checks 'edit_templates', refuses a template with an
unknown or misplaced field (nothing written, nothing audited), raises the version when the
wording changes, and audits the save: the record of who changed what patients are told.
On either engine (ADR 0015), through the store.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..letters import templates
from ..letters.model import KIND_LABELS
from ..letters.templates import LetterTemplate
from ..store.backend import FileStore
from .changes import ChangeSet
from .session import Session


@dataclass(frozen=True)
class CurrentTemplate:
    template: LetterTemplate
    own: bool  # the practice's saved wording (else the installed one)
    saved_by: str = ""
    saved_at: str = ""


def in_use(conn, kind: str) -> CurrentTemplate:
    """The wording letters of ``kind`` are printed from now (on a register file's connection)."""
    return in_use_on(FileStore(conn), kind)


def in_use_on(store, kind: str) -> CurrentTemplate:
    """in_use through the engine seam (store/backend.py), on either engine."""
    saved = store.saved_template(kind)
    if saved is None:
        return CurrentTemplate(templates.load_template(kind), own=False)
    return CurrentTemplate(templates.parse_template(saved.text, expected_kind=kind), True, saved.saved_by,
                           saved.saved_at)


def current(session: Session, kind: str) -> CurrentTemplate:
    with session.read_store("edit_templates") as store:
        return in_use_on(store, kind)


def save_template(session: Session, kind: str, text: str) -> ChangeSet:
    """Refused (and the refusal audited) without 'edit_templates'; a template with an unknown
    or misplaced field raises letters.templates.TemplateError and nothing is written or audited."""
    templates.template_path(kind)  # an unknown kind is refused before anything else
    with session.write("edit_templates", changes_register=False) as ctx:
        saved = templates.revise(text, kind, in_use_on(ctx.store, kind).template)
        ctx.store.put_template(kind, saved.version, saved.source, session.user, session.now())
        ctx.audit("template.save", detail=f"kind={kind} version={saved.version}")
    label = KIND_LABELS.get(kind, kind).lower()
    missing = templates.missing_promises(saved)
    warnings = ("This wording no longer tells the patient: " + "; ".join(missing) + ".",) if missing else ()
    return ChangeSet(f"Saved the {label} template as version {saved.version}. Letters printed from now on use it.",
                     ctx.revision, areas=frozenset({"templates"}), warnings=warnings,
                     data={"template": saved, "kind": kind})


def use_installed(session: Session, kind: str) -> ChangeSet:
    """Drop the practice's own wording for ``kind``: letters go back to the installed template."""
    templates.template_path(kind)
    with session.write("edit_templates", changes_register=False) as ctx:
        removed = ctx.store.remove_template(kind)
        installed = templates.load_template(kind)
        ctx.audit("template.use_installed", detail=f"kind={kind} version={installed.version} removed={removed}")
    label = KIND_LABELS.get(kind, kind).lower()
    summary = (f"The {label} letter now uses the standard wording installed with the app (version {installed.version})."
               if removed else f"The {label} letter already uses the standard wording.")
    return ChangeSet(summary, ctx.revision, areas=frozenset({"templates"}), data={"template": installed, "kind": kind})
