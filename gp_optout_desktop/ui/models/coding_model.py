"""The coding worklist as a table: overdue rows highlighted (and said in words, so a screen
reader and a colour-blind reader get it too). Tested without widgets."""

from __future__ import annotations

from datetime import date
from typing import Sequence

from PySide6.QtGui import QColor

from .item_table import ItemTableModel

HEADERS = ("Due", "Action", "NHS number", "Patient", "Date of birth", "Code (SNOMED CT)", "Read v2 / CTV3",
           "Date to record", "State")
OVERDUE_BACKGROUND = QColor("#f8d7da")
OVERDUE_TEXT = QColor("#a4000f")


def _day(d: date) -> str:
    return d.strftime("%d/%m/%Y")


class CodingModel(ItemTableModel):  # items: domain.coding.WorkItem
    HEADERS = HEADERS

    def __init__(self, parent=None):
        super().__init__(parent)
        self.today: date | None = None

    def set_items(self, items: Sequence, today: date) -> None:
        self.today = today
        super().set_items(items)

    def overdue(self, row: int) -> bool:
        return self.today is not None and self._items[row].overdue(self.today)

    def texts(self, row: int) -> tuple[str, ...]:
        return tuple(self._cell(row, column) for column in range(len(HEADERS)))

    def _cell(self, row: int, column: int) -> str:
        i = self._items[row]
        if column == 0:
            return ("OVERDUE " if self.overdue(row) else "") + _day(i.due)
        if column == 1:
            return i.op.capitalize() + (" (practice-wide)" if i.source == "practice-wide" else "")
        if column == 2:
            n = i.nhs_number
            return f"{n[:3]} {n[3:6]} {n[6:]}" if n else "not known"
        if column == 3:
            return i.name
        if column == 4:
            return _day(i.dob)
        if column == 5:
            return f"{i.code.snomed} {i.code.meaning.split(':')[0]}"
        if column == 6:
            return f"{i.code.read_v2} / {i.code.ctv3}"
        if column == 7:
            return _day(i.record_date)
        return f"Marked by {i.marked_by}, not yet confirmed" if i.marked_by else "Pending"

    def background(self, row: int):
        return OVERDUE_BACKGROUND if self.overdue(row) else None

    def foreground(self, row: int, column: int):
        return OVERDUE_TEXT if column == 0 and self.overdue(row) else None
