"""The letters queue as a table: deadlines in words, overdue letters highlighted.
Tested without widgets."""

from __future__ import annotations

from typing import Sequence

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from ...services.letters import reference

HEADERS = ("Reference", "Letter", "Patient", "NHS number", "Queued", "Due by", "Deadline")
DUE_SOON_DAYS = 7
OVERDUE = QColor("#a4000f")
SOON = QColor("#8a5300")


def _day(d) -> str:
    return f"{d.day} {d:%b %Y}"


def short_kind(label: str) -> str:
    """'Confirmation of an objection' -> 'Objection': the column is narrow and every row is a confirmation."""
    for prefix in ("Confirmation of an ", "Confirmation of a ", "Confirmation of "):
        if label.startswith(prefix):
            rest = label[len(prefix):]
            return rest[:1].upper() + rest[1:]
    return label


def deadline_words(days_left: int) -> str:
    if days_left < 0:
        n = -days_left
        return f"OVERDUE {n} day{'s' if n != 1 else ''}"
    if days_left == 0:
        return "Due today"
    return f"{days_left} day{'s' if days_left != 1 else ''} left"


def _bold() -> QFont:
    font = QFont()
    font.setBold(True)
    return font


class LettersModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list = []  # services.letters.PendingLetter

    def set_rows(self, rows: Sequence) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    @property
    def rows(self) -> list:
        return list(self._rows)

    def letter_at(self, row: int):
        return self._rows[row]

    def overdue_count(self) -> int:
        return sum(1 for r in self._rows if r.days_left < 0)

    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(HEADERS)

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        r = self._rows[index.row()]
        if role in (Qt.DisplayRole, Qt.AccessibleTextRole):
            values = (reference(r.letter_id), short_kind(r.kind_label), r.patient_name, r.nhs_display, _day(r.queued_on),
                      _day(r.due), deadline_words(r.days_left))
            return values[index.column()]
        if role == Qt.ToolTipRole and index.column() == 1:
            return r.kind_label
        if role == Qt.ForegroundRole:
            if r.days_left < 0:
                return OVERDUE
            if r.days_left <= DUE_SOON_DAYS:
                return SOON
        if role == Qt.FontRole and r.days_left < 0:
            return _bold()
        return None

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if role == Qt.DisplayRole and orientation == Qt.Horizontal:
            return HEADERS[section]
        return None
