"""Render letters to PDF with reportlab: one letter, a batch in one file, or one file each.

Every piece of patient or practice text reaches a Paragraph only through ``escape``:
reportlab reads '<' and '&' as markup and an <img src> could fetch a URL.
"""

from __future__ import annotations

import copy
import io
import os
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence
from xml.sax.saxutils import escape

from reportlab import rl_config
from reportlab.lib import rl_accel
from reportlab.pdfbase import pdfdoc
from reportlab.lib.colors import Color
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.platypus import (
    BaseDocTemplate, Flowable, Frame, KeepTogether, NextPageTemplate, PageBreak, PageTemplate,
    Paragraph, Spacer, Table, TableStyle,
)

from . import fonts, page
from .atomic import write_atomic, write_atomic_many
from .fields import conditions_met, values_for
from .model import NO_CODE, RECEIVED_KIND, LetterRequest, PracticeDetails, long_date
from .templates import BULLETS, HEADING, TABLE, LetterTemplate, fill, load_template


# Binary (Flate-only) streams: ASCII85 on top costs time in pure Python and a quarter more bytes.
rl_config.useA85 = 0


def _remember(source, name: str) -> None:
    """reportlab formats every coordinate, size and colour through fp_str, escapes every
    string it draws through escapePDF and every dictionary key through PDFName, in pure
    Python (its C accelerator is a separate package), and the same few thousand numbers and
    strings recur in every letter: remember the results. All depend only on their
    arguments, so the PDF bytes are unchanged. Installed in the reportlab modules already
    imported here."""
    original = getattr(source, name)
    if getattr(original, "_remembered", False):
        return
    done: dict = {}

    def remembered(*a):
        try:
            out = done.get(a)
        except TypeError:  # one list argument: not hashable, and rarely repeated
            return original(*a)
        if out is None:
            if len(done) >= 100_000:
                done.clear()
            out = done[a] = original(*a)
        return out

    remembered._remembered = True
    for mod_name, module in list(sys.modules.items()):
        if mod_name.startswith("reportlab") and getattr(module, name, None) is original:
            setattr(module, name, remembered)


_remember(rl_accel, "fp_str")
_remember(rl_accel, "escapePDF")
_remember(pdfdoc, "PDFName")


@dataclass(frozen=True)
class RenderedLetter:
    reference: str
    kind: str
    template_version: int
    template_digest: str
    pages: int
    path: Path | None = None  # set in split mode: the letter's own file


@dataclass(frozen=True)
class RenderResult:
    path: Path
    letters: tuple[RenderedLetter, ...]

    @property
    def pages(self) -> int:
        return sum(letter.pages for letter in self.letters)


class _Styles:
    def __init__(self):
        fonts.register()
        base = dict(fontName=fonts.REGULAR, bulletFontName=fonts.REGULAR, fontSize=9.5, leading=13)
        self.body = ParagraphStyle("body", spaceAfter=6, **base)
        self.subject = ParagraphStyle("subject", parent=self.body, fontName=fonts.BOLD, fontSize=11.5,
                                      leading=15, spaceAfter=8)
        self.heading = ParagraphStyle("heading", parent=self.body, fontName=fonts.BOLD, fontSize=10,
                                      spaceBefore=4, spaceAfter=3)
        self.bullet = ParagraphStyle("bullet", parent=self.body, leftIndent=5 * mm, bulletIndent=1 * mm,
                                     spaceAfter=3)
        self.cell = ParagraphStyle("cell", fontName=fonts.REGULAR, fontSize=8, leading=10)


_STYLES: _Styles | None = None


def _styles() -> _Styles:
    global _STYLES
    if _STYLES is None:
        _STYLES = _Styles()
    return _STYLES


# A UK phone number is never broken across lines ("0300 303" / "5678" reads as two numbers):
# its spaces become no-break spaces when drawn. The template text itself is not changed.
_PHONE = re.compile(r"\b0\d{3} \d{3} \d{4}\b|\b0\d{4} \d{6}\b|\b0\d{3} \d{7}\b")


def _keep_numbers(text: str) -> str:
    return _PHONE.sub(lambda m: m.group(0).replace(" ", "\u00a0"), text)


def _p(text: str, style) -> Paragraph:
    return Paragraph(escape(_keep_numbers(text)), style)


class _CachedParagraph(Paragraph):
    """Wording that is the same in every letter (no patient field): parsed and broken into
    lines once per process and width, and drawn once: the page-description operators it
    emits are kept and replayed in later letters. Each use is a shallow copy, so the layout
    engine's per-use state (splits, postponement) never leaks from one letter into the next.

    Replaying is exact because a flowable draws relative to its own origin (drawOn has
    already translated the canvas and restores its state afterwards), and it is only done
    when this PDF's embedded-font subsets give every character of the wording the same code
    and the fonts the same names as when it was drawn (fonts.seed makes that so for the
    fixed wording; anything else is simply drawn afresh)."""

    _layouts: dict | None = None  # shared by the copies of one prototype; split pieces have none

    def wrap(self, availWidth, availHeight):
        cached = self._layouts.get(availWidth) if self._layouts is not None else None
        if cached is None:
            super().wrap(availWidth, availHeight)
            if self._layouts is not None:
                self._layouts[availWidth] = (self.blPara, self.height)
        else:
            self.width = availWidth
            self.blPara, self.height = cached
        return self.width, self.height

    def _drawOn(self, canv):
        layouts = self._layouts
        cached = layouts.get(self.width) if layouts is not None else None
        if cached is None or self.blPara is not cached[0]:  # split across pages, or not wrapped here
            return super()._drawOn(canv)
        key = ("drawn", self.width)
        drawn = layouts.get(key)
        if drawn is not None and fonts.codes_match(drawn[1], canv._doc):
            canv._code.extend(drawn[0])
            return
        start = len(canv._code)
        super()._drawOn(canv)
        layouts[key] = (tuple(canv._code[start:]), fonts.codes_for(self._chars, canv._doc))


# Fields whose value is the same for every letter of a batch.
_BATCH_FIELDS = frozenset({"practice_name", "practice_address", "practice_phone", "practice_email", "ods_code",
                           "template_version"})
_prototypes: dict[tuple, _CachedParagraph] = {}


class _KeepTogether(KeepTogether):
    """KeepTogether for a heading and what follows it, measured without reportlab's deep copy
    of the current frame (made in case a flowable adds generated content to the frame; none
    of ours do): that copy cost more than laying out the two flowables."""

    def wrap(self, aW, aH):
        doc = getattr(self.canv, "_doctemplate", None)
        frame = getattr(doc, "frame", None)
        if frame is None:
            return super().wrap(aW, aH)
        doc.frame = None
        try:
            return super().wrap(aW, aH)
        finally:
            doc.frame = frame


def _para(text, values: dict[str, str], style, key: tuple, bullet: str | None = None) -> Paragraph:
    """A Paragraph for template text; cached (per process) when nothing in it varies by letter."""
    if any(is_field and name not in _BATCH_FIELDS for is_field, name in text):
        return Paragraph(escape(_keep_numbers(fill(text, values))), style, bulletText=bullet)
    proto = _prototypes.get(key)
    if proto is None:
        if len(_prototypes) > 2000:  # practices and templates change rarely; bound it anyway
            _prototypes.clear()
        plain = _keep_numbers(fill(text, values))
        proto = _CachedParagraph(escape(plain), style, bulletText=bullet)
        proto._layouts = {}
        proto._chars = frozenset(plain + (bullet or "") + " ")
        _prototypes[key] = proto
    return copy.copy(proto)


_TABLE_STYLE = TableStyle([
    ("FONT", (0, 0), (-1, -1), fonts.REGULAR, 8, 10),  # else the table sets Helvetica, which has no ŵ
    ("FONT", (0, 0), (-1, 0), fonts.BOLD, 8, 10),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ("LINEBELOW", (0, 0), (-1, 0), 0.6, Color(0.3, 0.3, 0.3)),
    ("LINEBELOW", (0, 1), (-1, -1), 0.3, Color(0.75, 0.75, 0.75)),
    ("BACKGROUND", (0, 0), (-1, 0), Color(0.93, 0.93, 0.93)),
    ("LEFTPADDING", (0, 0), (-1, -1), 3),
    ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ("TOPPADDING", (0, 0), (-1, -1), 2.5),
    ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
])
# Sized so a SNOMED CT code never wraps mid-number at 8 pt (measured with the embedded font).
_TABLE_WIDTHS = [31 * mm, 22 * mm, 30.5 * mm, 39 * mm, 47.5 * mm]
_TABLE_HEAD = ["Name", "NHS number", "Date of birth", "Recorded", "Codes"]
_PAD = 6  # left + right cell padding, points


def _fit(lines: list[str], width: float) -> str:
    """Plain-string cell (drawn literally, no markup), wrapped at spaces to the column."""
    out: list[str] = []
    for line in lines:
        out += simpleSplit(line, fonts.REGULAR, 8, width - _PAD) or [line]
    return "\n".join(out)


def _recorded_table(request: LetterRequest, s: _Styles) -> Table:
    # Only the name needs a Paragraph (free text that may wrap anywhere); the rest are plain
    # strings, which the table draws literally and far faster.
    w = _TABLE_WIDTHS
    rows: list[list] = [_TABLE_HEAD]
    for item in request.items:
        rows.append([
            _p(item.name, s.cell),
            item.nhs_display,
            long_date(item.dob) if item.dob else "not known",
            _fit([item.description, f"from {long_date(item.effective)}"]
                 + ([item.code_status] if request.base_kind in RECEIVED_KIND else []), w[3]),
            _fit([f"SNOMED CT {item.snomed}", f"Read v2 {item.read_v2} · CTV3 {item.ctv3}"] if item.snomed
                 else [NO_CODE], w[4]),
        ])
    table = Table(rows, colWidths=w, repeatRows=1, hAlign="LEFT")
    table.setStyle(_TABLE_STYLE)
    return table


class _EndOfLetter(Flowable):
    """Drawn on a letter's last page: fixes its 'of Y' and hands the next page to the next letter."""


    def __init__(self, index: int):
        super().__init__()
        self.index = index
        self.width = self.height = 0

    def wrap(self, availWidth, availHeight):
        return 0, 0

    def frameAction(self, frame):
        """Run where the frame meets it, taking no room: as a drawn flowable, a letter whose last
        paragraph's space-after reached the foot of the page pushed it onto a blank extra page."""
        self.draw()

    def draw(self):
        doc = self.canv._doctemplate
        total = self.canv.getPageNumber() - doc.letter_first_page + 1
        doc.page_counts[self.index] = total
        page.define_total(self.canv, _total_form(self.index), total)
        doc.pending_letter = self.index + 1


def _total_form(index: int) -> str:
    return f"LetterPages{index}"


def _story(index: int, request: LetterRequest, template: LetterTemplate, practice: PracticeDetails) -> list:
    s = _styles()
    values = values_for(request, practice, template.version)
    met = conditions_met(request)
    story: list = [NextPageTemplate("later"), _p(fill(template.subject, values), s.subject)]
    pending_heading = None
    for n, block in enumerate(template.blocks):
        if block.condition and block.condition not in met:
            continue
        key = (template.digest, practice, n)
        if block.style == HEADING:
            pending_heading = _para(block.texts[0], values, s.heading, key)
            continue
        if block.style == TABLE:
            if not request.items:
                continue
            flow = [_recorded_table(request, s), Spacer(1, 4)]
        elif block.style == BULLETS:
            flow = [_para(t, values, s.bullet, key + (b,), bullet="•") for b, t in enumerate(block.texts)]
        else:
            flow = [_para(block.texts[0], values, s.body, key)]
        if pending_heading is not None:  # never strand a heading at the foot of a page
            story.append(_KeepTogether([pending_heading, flow[0]]))
            story.extend(flow[1:])
            pending_heading = None
        else:
            story.extend(flow)
    if pending_heading is not None:
        story.append(pending_heading)
    if len(story) > 5:  # the sign-off never stands alone on a page: keep the last paragraphs together
        tail = []
        for flowable in story[-3:]:
            tail.extend(flowable._content if isinstance(flowable, KeepTogether) else [flowable])
        story[-3:] = [_KeepTogether(tail)]
    story += [_EndOfLetter(index), NextPageTemplate("first"), PageBreak()]
    return story


class _LetterDoc(BaseDocTemplate):
    def __init__(self, out, practice: PracticeDetails, furniture: Sequence[page.Furniture]):
        super().__init__(out, pagesize=page.A4, leftMargin=page.MARGIN_X, rightMargin=page.MARGIN_X,
                         topMargin=page.LATER_BODY_TOP, bottomMargin=page.BODY_BOTTOM,
                         title="Letters", author=practice.name, creator="gp-optout-desktop",
                         invariant=True, initialFontName=fonts.REGULAR, initialFontSize=9.5)
        self.practice = practice
        self.furniture = furniture
        self.pending_letter = 0
        self.current = 0
        self.letter_first_page = 1
        self.page_counts: dict[int, int] = {}
        width = page.PAGE_W - 2 * page.MARGIN_X
        first = Frame(page.MARGIN_X, page.BODY_BOTTOM, width, page.PAGE_H - page.FIRST_BODY_TOP - page.BODY_BOTTOM,
                      id="first", leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
        later = Frame(page.MARGIN_X, page.BODY_BOTTOM, width, page.PAGE_H - page.LATER_BODY_TOP - page.BODY_BOTTOM,
                      id="later", leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
        self.addPageTemplates([
            PageTemplate("first", [first], onPage=self._first_page),
            PageTemplate("later", [later], onPage=self._later_page),
        ])

    def _first_page(self, canv, doc):
        if canv.getPageNumber() == 1:
            fonts.seed(canv)  # before any text, so the font subset is the same in every PDF
        self.current = self.pending_letter
        self.letter_first_page = canv.getPageNumber()
        f = self.furniture[self.current]
        page.draw_letterhead(canv, self.practice)
        page.draw_address(canv, f)
        page.draw_info(canv, f)
        page.draw_fold_marks(canv)
        page.draw_footer(canv, f, 1, _total_form(self.current))

    def _later_page(self, canv, doc):
        f = self.furniture[self.current]
        page.draw_continuation(canv, self.practice, f)
        page.draw_footer(canv, f, canv.getPageNumber() - self.letter_first_page + 1, _total_form(self.current))


def _templates_for(requests: Iterable[LetterRequest], templates: Mapping[str, LetterTemplate] | None) -> dict:
    out = dict(templates or {})
    for r in requests:
        if r.kind not in out:
            out[r.kind] = load_template(r.kind)
    return out


def render_bytes(
    requests: Sequence[LetterRequest],
    practice: PracticeDetails,
    templates: Mapping[str, LetterTemplate] | None = None,
) -> tuple[bytes, tuple[RenderedLetter, ...]]:
    """All the letters, each starting on a new page, in one PDF (bytes)."""
    if not requests:
        raise ValueError("No letters to render.")
    tpl = _templates_for(requests, templates)
    furniture = [page.furniture_for(i, r, tpl[r.kind].label) for i, r in enumerate(requests)]
    story: list = []
    for i, r in enumerate(requests):
        story += _story(i, r, tpl[r.kind], practice)
    story.pop()  # no blank page after the last letter
    buf = io.BytesIO()
    doc = _LetterDoc(buf, practice, furniture)
    doc.build(story)
    letters = tuple(
        RenderedLetter(r.reference, r.kind, tpl[r.kind].version, tpl[r.kind].digest, doc.page_counts[i])
        for i, r in enumerate(requests)
    )
    return buf.getvalue(), letters


def render_batch(
    requests: Sequence[LetterRequest],
    practice: PracticeDetails,
    out_path: str | os.PathLike,
    templates: Mapping[str, LetterTemplate] | None = None,
) -> RenderResult:
    data, letters = render_bytes(requests, practice, templates)
    path = write_atomic(out_path, data)
    return RenderResult(path, letters)


def split_filename(index: int, reference: str) -> str:
    """Order number and reference only: a file name must never carry a patient's name."""
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", reference).strip("_")[:40] or "letter"
    return f"{index + 1:04d}-{safe}.pdf"


def _render_chunk(args) -> list[RenderedLetter]:
    """Render a chunk of letters, each its own PDF, then write them with one flush to disk."""
    start, requests, practice, templates, out_dir = args
    rendered, files = [], []
    for offset, request in enumerate(requests):
        data, (letter,) = render_bytes([request], practice, templates)
        rendered.append(letter)
        files.append((split_filename(start + offset, request.reference), data))
    paths = write_atomic_many(out_dir, files)
    return [RenderedLetter(letter.reference, letter.kind, letter.template_version, letter.template_digest,
                           letter.pages, path) for letter, path in zip(rendered, paths)]


def render_split(
    requests: Sequence[LetterRequest],
    practice: PracticeDetails,
    out_dir: str | os.PathLike,
    templates: Mapping[str, LetterTemplate] | None = None,
    workers: int | None = None,
) -> tuple[RenderedLetter, ...]:
    """One PDF per letter in ``out_dir``, spread over the machine's cores (reportlab is pure
    Python and holds the GIL, so threads would not help)."""
    if not requests:
        raise ValueError("No letters to render.")
    out_dir = Path(out_dir)
    if not out_dir.exists():
        out_dir.mkdir(parents=True)
        if os.name != "nt":
            os.chmod(out_dir, 0o700)  # a folder this program makes for letters is owner-only, whatever the umask
    tpl = _templates_for(requests, templates)
    workers = max(1, min(workers or os.cpu_count() or 1, len(requests)))
    if workers == 1:
        return tuple(_render_chunk((0, list(requests), practice, tpl, str(out_dir))))
    # A few chunks per worker evens out letters of different lengths without much pickling.
    size = max(1, -(-len(requests) // (workers * 4)))
    chunks = [(i, list(requests[i:i + size]), practice, tpl, str(out_dir)) for i in range(0, len(requests), size)]
    with ProcessPoolExecutor(max_workers=workers, initializer=fonts.register) as pool:
        results = list(pool.map(_render_chunk, chunks))
    return tuple(letter for chunk in results for letter in chunk)
