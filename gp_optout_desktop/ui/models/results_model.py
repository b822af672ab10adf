"""The front-desk results table: ids and the fetched rows only.

The database searches and sorts (by surname, forenames); the model never sorts or
filters Python data, so it stays fast at 1,000,000 patients.

It is a QStandardItemModel painted from Qt's own items: a Python table model answered about
1,000 ``data()`` calls a paint, each one taking the GIL back from whatever task runs on a
worker (about 1 ms each when the task is busy in Python): that, not the search, was most of
the typing's stalls during an import or a letter run (issue 13; ADR 0014 addendum 6).

The answer reaches the UI thread as bytes in Qt's item-model drag-and-drop encoding, written
on the search's thread, and the model decodes them in one call into plain C++ items (cloned
from its prototype, which makes them read-only). Items made in Python (``QStandardItem(text)``)
are Python-aware subclasses whose every ``data()`` call from the table takes the GIL to look
for a Python override: laying out and painting a 500-row answer then waited for the GIL
thousands of times while a task ran Python, 90-150 ms, against 4-10 ms for plain items
(ADR 0014 addendum 7).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import QByteArray, QDataStream, QIODevice, QMimeData, QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QGuiApplication, QStandardItem, QStandardItemModel

from ...domain import nhs_number
from ...services import patients

LIMIT = 500

COLUMNS = ("NHS number", "Name", "Date of birth", "Postcode", "Type 1", "Type 2")


def _objection(active: bool) -> str:
    return "Objects" if active else ""


def _cells(row) -> tuple[str, ...]:
    return (nhs_number.display(row.nhs_number) if row.nhs_number else "not known", row.name,
            f"{row.dob.day:02d}/{row.dob.month:02d}/{row.dob.year}", row.postcode,
            _objection(row.type1_active), _objection(row.type2_active))


@dataclass(frozen=True)
class Found:
    """One search's answer, made off the UI thread: the UI thread only swaps it in."""

    query: str
    ids: list[int]
    rows: list
    cells: list[tuple[str, ...]]
    truncated: bool
    # The table's items, made with the answer (``encoded``); any number of models may show them.
    encoded: QByteArray | None = field(default=None, compare=False, repr=False)


_FLAGS = Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled  # read-only, as the table is
_ENCODING = "application/x-qabstractitemmodeldatalist"  # Qt's own, which QStandardItemModel decodes
_DISPLAY, _FOREGROUND, _FONT, _TIP = (role.value for role in (
    Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.FontRole,
    Qt.ItemDataRole.ToolTipRole))


def _style() -> tuple[QBrush, QFont]:
    bold = QFont()
    bold.setBold(True)
    return QBrush(QColor("#8b0000")), bold  # an objection in force stands out


def _tip(kind: str, active: bool) -> str:
    """The row knows only what the register received, not whether the code is confirmed in the
    clinical system (which is what national extractions honour): the record says which."""
    if not active:
        return f"No {kind} objection recorded"
    if kind == "Type 2":  # legacy: Type 2 never stopped GP data leaving the practice
        return "Legacy Type 2 objection recorded"
    return "Type 1 objection received: open the record to see whether it is in force (code confirmed)"


def encoded(rows: list, cells: list[tuple[str, ...]], style: tuple[QBrush, QFont]) -> QByteArray | None:
    """The rows' cells in Qt's item-model encoding (row, column, then {role: value}), None if
    there are none. Each cell holds its text (which screen readers also read: Qt's accessible
    name of a cell is its text when it has no accessible text of its own) and the objection
    columns a tooltip in words (received, never claimed in force: the row cannot know); an
    objection's "Objects" is in bold dark red. Nothing more: every value is decoded again on
    the UI thread, and a copy of the text as accessible text, the patient's id in every cell
    and the style on empty cells doubled that decoding for nothing (the model keeps the ids).
    Any thread; each write is one short Qt call, so a task's thread is never kept from the
    GIL for long."""
    if not rows:
        return None
    if QGuiApplication.instance() is None:  # writing out a QFont without one crashes the process
        raise RuntimeError("the results table's rows need a QGuiApplication")
    red, bold = style
    data = QByteArray()
    stream = QDataStream(data, QIODevice.OpenModeFlag.WriteOnly)
    number, value, count = stream.writeInt32, stream.writeQVariant, stream.writeUInt32
    for r, (row, texts) in enumerate(zip(rows, cells)):
        for col, text in enumerate(texts):
            number(r)
            number(col)
            if col < 4:
                count(1)
            else:
                active = row.type1_active if col == 4 else row.type2_active
                count(4 if active else 2)
                if active:
                    number(_FOREGROUND)
                    value(red)
                    number(_FONT)
                    value(bold)
                number(_TIP)
                value(_tip("Type 1" if col == 4 else "Type 2", active))
            number(_DISPLAY)
            value(text)
    return data


def fetch(session, text: str, limit: int = LIMIT) -> Found:
    """Run the search in the database (on the desk's read-only connection; any thread);
    one more id than shown tells whether there are more. The table's items are made here too."""
    ids, rows = patients.find_ids_and_rows(session, text, limit + 1) if text.strip() else ([], [])
    truncated = len(ids) > limit
    ids = ids[:limit]
    cells = [_cells(r) for r in rows]
    return Found(text, ids, rows, cells, truncated, encoded(rows, cells, _style()))


class ResultsModel(QStandardItemModel):
    def __init__(self, parent=None, limit: int = LIMIT):
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(COLUMNS))
        prototype = QStandardItem()  # every row's item is a clone: read-only, as the table is
        prototype.setFlags(_FLAGS)
        self.setItemPrototype(prototype)  # the model owns it
        self.limit = limit
        self._rows: list = []  # services ResultRow, in the database's order
        self._style = _style()  # made once per model (Qt objects must not outlive the QApplication)
        self.truncated = False
        self.query = ""

    # ---- searching ---------------------------------------------------------------
    def search(self, session, text: str) -> None:
        """Search and show the answer now (on the calling thread)."""
        self.show(fetch(session, text, self.limit))

    def show(self, found: Found) -> None:
        data = found.encoded if found.encoded is not None else encoded(found.rows, found.cells, self._style)
        self._replace(data)
        self._rows, self.truncated, self.query = found.rows, found.truncated, found.query

    def clear(self) -> None:
        self._replace(None)
        self._rows, self.truncated, self.query = [], False, ""

    def _replace(self, data: QByteArray | None) -> None:
        """Every row at once, decoded by Qt into plain C++ items (the module docstring), as one
        model reset (a signal per row would make the table lay itself out again 500 times)."""
        self.beginResetModel()
        self.blockSignals(True)
        try:
            self.setRowCount(0)
            if data is not None:
                drop = QMimeData()
                drop.setData(_ENCODING, data)
                if not self.dropMimeData(drop, Qt.DropAction.CopyAction, 0, 0, QModelIndex()):
                    raise RuntimeError("the search's rows could not be shown")
        finally:
            self.blockSignals(False)
            self.endResetModel()

    def patient_id(self, row: int) -> int | None:
        return self._rows[row].patient_id if 0 <= row < len(self._rows) else None

    def summary(self) -> str:
        """One line under the search box."""
        if not self.query.strip():
            return ""
        if not self._rows:
            return "No patient found."
        if self.truncated:
            return f"Showing the first {self.limit}: refine the search."
        return "1 patient found." if len(self._rows) == 1 else f"{len(self._rows)} patients found."
