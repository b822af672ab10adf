"""A read-only table of items, one per row, under fixed column headings: what the coding
worklist and the reconciliation findings share (each adds how its cells read).

Roles are compared as plain ints and each row's texts are made once: a view measuring or
painting a 100,000-row reconciliation asks ``data`` for every cell and role it shows, and
comparing PySide's role enums cost about 70 microseconds a call, so sizing the columns held
the UI thread for 4-8 s (issue 13)."""

from __future__ import annotations

from typing import Sequence

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt

DISPLAY = Qt.ItemDataRole.DisplayRole.value
ACCESSIBLE = Qt.ItemDataRole.AccessibleTextRole.value
BACKGROUND = Qt.ItemDataRole.BackgroundRole.value
FOREGROUND = Qt.ItemDataRole.ForegroundRole.value
HORIZONTAL = Qt.Orientation.Horizontal


class ItemTableModel(QAbstractTableModel):
    HEADERS: tuple[str, ...] = ()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._items: list = []
        self._texts: dict[int, tuple[str, ...]] = {}  # row -> its cells' texts, made when first asked

    def set_items(self, items: Sequence) -> None:
        self.beginResetModel()
        self._items = list(items)
        self._texts = {}
        self.endResetModel()

    def item(self, row: int):
        return self._items[row]

    def texts(self, row: int) -> tuple[str, ...]:
        """Every cell's text in ``row`` (subclasses)."""
        raise NotImplementedError

    def text(self, row: int, column: int) -> str:
        cells = self._texts.get(row)
        if cells is None:
            cells = self._texts[row] = self.texts(row)
        return cells[column]

    def background(self, row: int):
        return None

    def foreground(self, row: int, column: int):
        return None

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.HEADERS)

    def data(self, index, role=DISPLAY):
        role = int(role)  # an int from Qt's views; an enum from Python callers
        if role == DISPLAY or role == ACCESSIBLE:
            return self.text(index.row(), index.column()) if index.isValid() else None
        if role == BACKGROUND:
            return self.background(index.row()) if index.isValid() else None
        if role == FOREGROUND:
            return self.foreground(index.row(), index.column()) if index.isValid() else None
        return None

    def headerData(self, section, orientation, role=DISPLAY):
        if int(role) == DISPLAY and orientation == HORIZONTAL:
            return self.HEADERS[section]
        return None
