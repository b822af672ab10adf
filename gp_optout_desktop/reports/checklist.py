"""The coding worklist as a printable checklist: a table PDF (reportlab, the letters' font so
names with accents and Welsh letters print), a tick box per row, overdue rows shaded."""

from __future__ import annotations

import io

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from xml.sax.saxutils import escape

from ..domain.nhs_number import display as nhs_display
from ..letters import fonts

HEADER = ("Done", "Action", "NHS number", "Name", "Date of birth", "SNOMED CT (Read v2 / CTV3)", "Date to record",
          "Due", "")
OVERDUE_SHADE = colors.Color(1, 0.85, 0.85)
ROWS_PER_TABLE = 30
COLUMN_WIDTHS = [11 * mm, 28 * mm, 26 * mm, 46 * mm, 21 * mm, 88 * mm, 21 * mm, 18 * mm, 17 * mm]


def render(worklist, practice: dict) -> bytes:
    fonts.register()
    base_style = [
        ("FONT", (0, 0), (-1, -1), fonts.REGULAR, 8),
        ("FONT", (0, 0), (-1, 0), fonts.BOLD, 8),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.9, 0.9, 0.9)),
    ]
    body = ParagraphStyle("cell", fontName=fonts.REGULAR, fontSize=8, leading=10)
    title = ParagraphStyle("title", fontName=fonts.BOLD, fontSize=13, leading=16)
    note = ParagraphStyle("note", fontName=fonts.REGULAR, fontSize=9, leading=11)
    late_rows: list[bool] = []
    body_rows = []
    for item in worklist.items:
        late = item.overdue(worklist.today)
        late_rows.append(late)
        action = f"{item.op.upper()}" + (" (practice-wide)" if item.source == "practice-wide" else "")
        body_rows.append([
            "[   ]", action, nhs_display(item.nhs_number) if item.nhs_number else "no NHS number",
            Paragraph(escape(item.name), body), item.dob.strftime("%d/%m/%Y"),
            Paragraph(escape(f"{item.code.snomed} {item.code.meaning.split(':')[0]} "
                             f"({item.code.read_v2} / {item.code.ctv3})"), body),
            item.record_date.strftime("%d/%m/%Y"), item.due.strftime("%d/%m/%Y"), "OVERDUE" if late else "",
        ])
    # Tables of a few rows each, not one table: reportlab splits a long table across pages by
    # re-measuring what is left, which grows with the square of its length.
    tables = []
    for start in range(0, max(len(body_rows), 1), ROWS_PER_TABLE):
        chunk = body_rows[start:start + ROWS_PER_TABLE]
        table = Table([list(HEADER)] + chunk, repeatRows=1, colWidths=COLUMN_WIDTHS)
        style = list(base_style)
        style += [("BACKGROUND", (0, n), (-1, n), OVERDUE_SHADE)
                  for n, late in enumerate(late_rows[start:start + ROWS_PER_TABLE], start=1) if late]
        table.setStyle(TableStyle(style))
        tables.append(table)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=landscape(A4), leftMargin=10 * mm, rightMargin=10 * mm,
                            topMargin=12 * mm, bottomMargin=12 * mm, title="Coding checklist",
                            author=practice.get("name", ""), creator="gp-optout-desktop")
    story = [
        Paragraph(escape(f"Coding checklist: {practice.get('name', '')} ({practice.get('ods', '')})"), title),
        Paragraph(escape(f"Printed {worklist.today.strftime('%d/%m/%Y')}. {worklist.describe()} Tick each row when "
                         "the code is in the clinical system; the next reconciliation confirms it."), note),
        Spacer(1, 4 * mm),
        *tables,
    ]

    def footer(canv, doc_):
        canv.saveState()
        canv.setFont(fonts.REGULAR, 7)
        canv.drawRightString(landscape(A4)[0] - 10 * mm, 6 * mm,
                             f"Page {doc_.page}. Confidential: patient identifiers. Shred after use.")
        canv.restoreState()

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()
