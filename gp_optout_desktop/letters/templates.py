"""Letter templates: editable text a practice manager can reword without code. The app
installs one file per letter (resources/letters); a practice's own wording is kept in its
register (services/templates.py) and used instead.

Format (UTF-8)::

    # comment lines start with '#'
    template: objection          <- the letter kind this file is for
    version: 3                   <- recorded with every letter printed from it
    subject: Your objection to sharing your GP data has been recorded
    ---
    Dear {salutation},           <- paragraphs are separated by blank lines

    ## A heading                 <- a paragraph starting '## ' is a heading
    - a bullet                   <- lines starting '- ' form a bullet list
    [if proxy] Text ...          <- kept only when the condition holds

    {recorded_table}             <- the table of people covered, on its own

Fields in {braces} are replaced by plain text (never markup); '{{' and '}}' give
literal braces. An unknown or misplaced field is refused on load and on save.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ..domain.errors import ValidationError
from ..paths import resource
from .fields import BLOCK_FIELDS, CONDITIONS, FIELDS, allowed_fields
from .model import KINDS, KIND_LABELS

HEADING = "heading"
PARAGRAPH = "paragraph"
BULLETS = "bullets"
TABLE = "table"

_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
_COND_RE = re.compile(r"^\[if ([^\]]*)\]\s*")
_VERSION_RE = re.compile(r"^(version:\s*)(\S+)\s*$", re.MULTILINE)

# Text is a tuple of (is_field, value) pieces, so substitution never re-parses values.
Text = tuple[tuple[bool, str], ...]


class TemplateError(ValidationError):
    """A template the letters cannot be printed from; the message names the line and field."""


@dataclass(frozen=True)
class Block:
    style: str  # heading | paragraph | bullets | table
    texts: tuple[Text, ...]  # one for heading/paragraph, one per bullet, none for table
    condition: str | None = None


@dataclass(frozen=True)
class LetterTemplate:
    kind: str
    version: int
    subject: Text
    blocks: tuple[Block, ...]
    source: str

    @property
    def digest(self) -> str:
        """SHA-256 of the file text: pins exactly which wording a letter used."""
        return hashlib.sha256(self.source.encode("utf-8")).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.kind} v{self.version}"


def default_dir() -> Path:
    return resource("letters")


def template_path(kind: str, directory: str | Path | None = None) -> Path:
    if kind not in KINDS:
        raise TemplateError(f"Unknown letter kind '{kind}': one of {', '.join(KINDS)}.", "kind")
    return Path(directory or default_dir()) / f"{kind}.txt"


def load_template(kind: str, directory: str | Path | None = None) -> LetterTemplate:
    path = template_path(kind, directory)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TemplateError(f"The {KIND_LABELS[kind].lower()} template is missing ({path.name}).", "template") from None
    except UnicodeDecodeError:
        raise TemplateError(f"{path.name} is not UTF-8 text: save it as UTF-8.", "template") from None
    return parse_template(text, expected_kind=kind)


def revise(text: str, kind: str, current: LetterTemplate | None) -> LetterTemplate:
    """Validate new wording against ``current`` (the wording in use). Changed wording with an
    unchanged version gets the next version, so two different wordings never share a version
    number in the letters log."""
    new = parse_template(text, expected_kind=kind)
    if current is not None and current.source != new.source and new.version <= current.version:
        text = _VERSION_RE.sub(lambda m: f"{m.group(1)}{current.version + 1}", text, count=1)
        new = parse_template(text, expected_kind=kind)
    return new


def parse_template(text: str, expected_kind: str | None = None) -> LetterTemplate:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    header: dict[str, tuple[str, int]] = {}
    body_start = None
    for no, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped == "---":
            body_start = no
            break
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = stripped.partition(":")
        if not sep or key.strip() not in ("template", "version", "subject"):
            raise TemplateError(
                f"Line {no}: expected 'template:', 'version:' or 'subject:' before the '---' line, found '{stripped}'.",
                "template",
            )
        header[key.strip()] = (value.strip(), no)
    if body_start is None:
        raise TemplateError("The template needs a line '---' between its header and the letter text.", "template")
    for key in ("template", "version", "subject"):
        if key not in header:
            raise TemplateError(f"The template header lacks '{key}:'.", "template")
    kind, kind_line = header["template"]
    if kind not in KINDS:
        raise TemplateError(f"Line {kind_line}: unknown letter kind '{kind}': one of {', '.join(KINDS)}.", "template")
    if expected_kind is not None and kind != expected_kind:
        raise TemplateError(f"Line {kind_line}: this file is for '{kind}' letters, not '{expected_kind}'.", "template")
    version_text, version_line = header["version"]
    if not version_text.isdigit() or int(version_text) < 1:
        raise TemplateError(f"Line {version_line}: the version must be a whole number from 1, not '{version_text}'.", "version")
    subject_text, subject_line = header["subject"]
    subject = _parse_text(subject_text, kind, subject_line, condition=None)
    blocks = _parse_body(lines[body_start:], body_start + 1, kind)
    if not blocks:
        raise TemplateError("The letter text is empty.", "template")
    return LetterTemplate(kind, int(version_text), subject, tuple(blocks), text)


def _parse_body(lines: list[str], first_no: int, kind: str) -> list[Block]:
    blocks: list[Block] = []
    para: list[tuple[int, str]] = []
    for offset, line in enumerate(lines + [""]):
        if line.strip():
            para.append((first_no + offset, line.rstrip()))
        elif para:
            blocks.append(_parse_block(para, kind))
            para = []
    return blocks


def _parse_block(para: list[tuple[int, str]], kind: str) -> Block:
    no, first = para[0]
    condition = None
    m = _COND_RE.match(first.strip())
    if m:
        condition = m.group(1).strip()
        if condition not in CONDITIONS:
            raise TemplateError(
                f"Line {no}: unknown condition '[if {condition}]'. Conditions: "
                + ", ".join(f"[if {c}] ({d})" for c, d in CONDITIONS.items()) + ".",
                "condition",
            )
        para = [(no, first.strip()[m.end():])] + para[1:]
    stripped = [(n, line.strip()) for n, line in para if line.strip()]
    if not stripped:
        raise TemplateError(f"Line {no}: a condition needs text after it.", "condition")
    joined = " ".join(line for _, line in stripped)
    if joined in {"{" + f + "}" for f in BLOCK_FIELDS}:
        _check_field(joined[1:-1], kind, no, condition)
        return Block(TABLE, (), condition)
    if stripped[0][1].startswith("## "):
        if len(stripped) > 1:
            raise TemplateError(f"Line {no}: a heading is one line; leave a blank line after it.", "template")
        return Block(HEADING, (_parse_text(stripped[0][1][3:].strip(), kind, no, condition),), condition)
    if stripped[0][1].startswith("- "):
        bullets: list[list[tuple[int, str]]] = []
        for n, line in stripped:
            if line.startswith("- "):
                bullets.append([(n, line[2:].strip())])
            else:  # a wrapped bullet continues on the next line
                bullets[-1].append((n, line))
        texts = tuple(_parse_text(" ".join(t for _, t in b), kind, b[0][0], condition) for b in bullets)
        return Block(BULLETS, texts, condition)
    return Block(PARAGRAPH, (_parse_text(joined, kind, no, condition),), condition)


def _parse_text(text: str, kind: str, no: int, condition: str | None) -> Text:
    pieces: list[tuple[bool, str]] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "{}" and text[i:i + 2] in ("{{", "}}"):
            literal.append(ch)
            i += 2
            continue
        if ch == "}":
            raise TemplateError(f"Line {no}: a lone '}}'. Write '}}}}' for a literal brace.", "template")
        if ch == "{":
            end = text.find("}", i + 1)
            if end < 0:
                raise TemplateError(f"Line {no}: '{{' is not closed. Write '{{{{' for a literal brace.", "template")
            name = text[i + 1:end].strip()
            _check_field(name, kind, no, condition)
            if name in BLOCK_FIELDS:
                raise TemplateError(f"Line {no}: {{{name}}} must stand alone as its own paragraph.", name)
            if literal:
                pieces.append((False, "".join(literal)))
                literal = []
            pieces.append((True, name))
            i = end + 1
            continue
        literal.append(ch)
        i += 1
    if literal:
        pieces.append((False, "".join(literal)))
    return tuple(pieces)


def _check_field(name: str, kind: str, no: int, condition: str | None) -> None:
    allowed = allowed_fields(kind)
    if name not in FIELDS or not _NAME_RE.match(name):
        raise TemplateError(
            f"Line {no}: unknown field {{{name}}}. Fields you can use in the {kind} template: "
            + ", ".join(allowed) + ".",
            name or "template",
        )
    if name not in allowed:
        raise TemplateError(
            f"Line {no}: {{{name}}} has no value in {kind} letters. Fields you can use in the {kind} template: "
            + ", ".join(allowed) + ".",
            name,
        )
    needs = FIELDS[name].needs
    if needs and condition != needs:
        raise TemplateError(
            f"Line {no}: {{{name}}} only has a value when {CONDITIONS[needs]}: "
            f"start its paragraph with [if {needs}].",
            name,
        )


def fill(text: Text, values: dict[str, str]) -> str:
    """Substitute plain-text values (the caller escapes for the PDF)."""
    return "".join(values[v] if is_field else v for is_field, v in text)


# What every letter to a patient must still say after a practice rewords it (issue 10; ADR
# 0010): checked by words, so rewording is free, and reported as a warning, not a refusal.
PROMISES = (
    (("direct care",), "what direct care means"),
    (("court",), "that Type 1 does not stop sharing required by law or a court order"),
    (("safeguarding",), "safeguarding"),
    (("public-health emergency", "public health emergency"), "public-health emergencies"),
    (("anonymous",), "anonymous or aggregate information"),
    (("discontinued",), "that Type 1 opt-outs may be discontinued, and that the practice will tell the patient"),
)
# The practice-wide notice has its own wording requirements (the practice-wide coding lists).
PROMISE_EXEMPT = frozenset({"practice_wide_notice"})


def missing_promises(template: LetterTemplate) -> list[str]:
    """What this wording no longer tells the patient, in words for the practice manager."""
    if template.kind in PROMISE_EXEMPT:
        return []
    text = template.source.lower()
    missing = [what for words, what in PROMISES if not any(w in text for w in words)]
    if not any(b.condition == "under13" for b in template.blocks):
        missing.append("an [if under13] paragraph: a child under 13's National Data Opt-out is set by post or phone")
    return missing
