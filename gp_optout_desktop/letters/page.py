"""Fixed page furniture drawn straight on the canvas: letterhead, the address in the
envelope window, the date/reference block, continuation header, footer, fold marks.

canvas.drawString takes text literally (no markup), so names need no escaping here.
"""

from __future__ import annotations

from dataclasses import dataclass

from reportlab.lib.colors import Color
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth

from ..domain import nhs_number
from . import fonts
from .model import LetterRequest, PracticeDetails, long_date

PAGE_W, PAGE_H = A4
MARGIN_X = 20 * mm
# A DL window envelope (C5/6 window: 20 mm from the left, 90 x 45 mm) shows the top third
# of an A4 sheet folded in three; the address sits inside it with a little clearance.
WINDOW_X = 20 * mm
WINDOW_TOP = 45 * mm  # from the top of the sheet
WINDOW_W = 90 * mm
ADDRESS_X = WINDOW_X + 5 * mm
ADDRESS_TOP = WINDOW_TOP + 5 * mm
INFO_X = 125 * mm
FIRST_BODY_TOP = 100 * mm  # body starts below the window on page one
LATER_BODY_TOP = 30 * mm
BODY_BOTTOM = 22 * mm
GREY = Color(0.35, 0.35, 0.35)
RULE = Color(0.6, 0.6, 0.6)


def _y(from_top: float) -> float:
    return PAGE_H - from_top


@dataclass(frozen=True)
class Furniture:
    """Strings for one letter's fixed parts, worked out once, drawn on each page."""

    index: int
    reference: str
    name: str
    address: tuple[str, ...]
    info: tuple[tuple[str, str], ...]
    continuation: str
    footer_left: str


def furniture_for(index: int, request: LetterRequest, template_label: str) -> Furniture:
    r = request.recipient
    nhs = nhs_number.display(r.nhs_number) if r.nhs_number else "not known"
    info = [("Date", long_date(request.letter_date)), ("Our reference", request.reference), ("NHS number", nhs)]
    info.append(("Date of birth", long_date(r.dob) if r.dob else "not known"))
    return Furniture(
        index=index,
        reference=request.reference,
        name=r.full_name,
        address=(r.full_name, *r.address_lines),
        info=tuple(info),
        continuation=f"{r.full_name} · NHS number {nhs} · Reference {request.reference}",
        footer_left=f"Reference {request.reference} · Template {template_label}",
    )


def draw_letterhead(canv, practice: PracticeDetails) -> None:
    canv.setFillColor(Color(0, 0, 0))
    canv.setFont(fonts.BOLD, 15)
    canv.drawString(MARGIN_X, _y(20 * mm), practice.name)
    canv.setFont(fonts.REGULAR, 8.5)
    address = ", ".join(line for line in practice.address if line.strip())
    contact = "  ·  ".join(
        p for p in (f"Tel {practice.phone}" if practice.phone else "",
                    f"Email {practice.email}" if practice.email else "",
                    f"ODS code {practice.ods_code}" if practice.ods_code else "") if p
    )
    y = _y(26 * mm)
    for line in simpleSplit(address, fonts.REGULAR, 8.5, PAGE_W - 2 * MARGIN_X)[:2] + [contact]:
        canv.drawString(MARGIN_X, y, line)
        y -= 11
    canv.setStrokeColor(RULE)
    canv.setLineWidth(0.6)
    canv.line(MARGIN_X, _y(39 * mm), PAGE_W - MARGIN_X, _y(39 * mm))


def draw_address(canv, f: Furniture) -> None:
    """Recipient's address inside the window; long lines wrap rather than being cut off."""
    size, leading = 10, 12.5
    lines: list[str] = []
    for line in f.address:
        lines += simpleSplit(line, fonts.REGULAR, size, WINDOW_W - 8 * mm) or [line]
    if len(lines) > 7:  # shrink rather than run out of the window
        size, leading = 8.5, 10.2
    canv.setFont(fonts.REGULAR, size)
    canv.setFillColor(Color(0, 0, 0))
    y = _y(ADDRESS_TOP) - size
    for line in lines:
        canv.drawString(ADDRESS_X, y, line)
        y -= leading


def draw_info(canv, f: Furniture) -> None:
    y = _y(ADDRESS_TOP) - 9
    for label, value in f.info:
        canv.setFont(fonts.BOLD, 9)
        canv.drawString(INFO_X, y, label)
        canv.setFont(fonts.REGULAR, 9)
        canv.drawString(INFO_X + 27 * mm, y, value)
        y -= 13


def draw_fold_marks(canv) -> None:
    # Ticks at the thirds so the address lands in the window when folded.
    canv.setStrokeColor(RULE)
    canv.setLineWidth(0.4)
    for third in (99 * mm, 198 * mm):
        canv.line(0, _y(third), 5 * mm, _y(third))


def draw_continuation(canv, practice: PracticeDetails, f: Furniture) -> None:
    canv.setFillColor(GREY)
    canv.setFont(fonts.BOLD, 9)
    canv.drawString(MARGIN_X, _y(15 * mm), practice.name)
    canv.setFont(fonts.REGULAR, 8.5)
    for i, line in enumerate(simpleSplit(f.continuation, fonts.REGULAR, 8.5, PAGE_W - 2 * MARGIN_X)[:2]):
        canv.drawString(MARGIN_X, _y(20 * mm) - i * 10.5, line)
    canv.setStrokeColor(RULE)
    canv.setLineWidth(0.6)
    canv.line(MARGIN_X, _y(25 * mm), PAGE_W - MARGIN_X, _y(25 * mm))


PAGE_NO_X = PAGE_W - MARGIN_X - 26 * mm
FOOTER_Y = 12 * mm


def draw_footer(canv, f: Furniture, page_in_letter: int, total_form: str) -> None:
    """'Page X of ' now; Y is a form XObject filled in when the letter's last page is known."""
    canv.setFillColor(GREY)
    canv.setFont(fonts.REGULAR, 7.5)
    canv.drawString(MARGIN_X, FOOTER_Y, f.footer_left)
    canv.setFont(fonts.REGULAR, 8.5)
    text = f"Page {page_in_letter} of "
    canv.drawString(PAGE_NO_X, FOOTER_Y, text)
    canv.saveState()
    canv.translate(PAGE_NO_X + stringWidth(text, fonts.REGULAR, 8.5), FOOTER_Y)
    canv.doForm(total_form)
    canv.restoreState()


def define_total(canv, total_form: str, total: int) -> None:
    canv.beginForm(total_form)
    canv.setFillColor(GREY)
    canv.setFont(fonts.REGULAR, 8.5)
    canv.drawString(0, 0, str(total))
    canv.endForm()
