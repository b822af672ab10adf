"""The practice-wide opt-out's history as a table, newest first (tested without widgets)."""

from __future__ import annotations

from typing import Sequence

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt

from ...domain.practice_policy import ON, PolicyChange
from ...domain.uk_time import uk

HEADERS = ("Effective from", "Turned", "Reason", "By", "Recorded")


def _day(d) -> str:
    return f"{d.day} {d:%b %Y}"


class PolicyHistoryModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[PolicyChange] = []

    def set_history(self, history: Sequence[PolicyChange]) -> None:
        self.beginResetModel()
        self._rows = sorted(history, key=lambda c: (c.effective, c.seq), reverse=True)
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(HEADERS)

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid() or role not in (Qt.DisplayRole, Qt.AccessibleTextRole, Qt.ToolTipRole):
            return None
        c = self._rows[index.row()]
        values = (_day(c.effective), "On" if c.state == ON else "Off", c.reason, c.recorded_by,
                  uk(c.recorded_at).strftime("%d %b %Y %H:%M"))
        return values[index.column()]

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if role == Qt.DisplayRole and orientation == Qt.Horizontal:
            return HEADERS[section]
        return None
