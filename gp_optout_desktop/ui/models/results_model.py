"""The front-desk results table: ids and the fetched rows only.

The database searches and sorts (by surname, forenames); the model never sorts or
filters Python data, so it stays fast at 1,000,000 patients.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

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


def fetch(session, text: str, limit: int = LIMIT) -> Found:
    """Run the search in the database (on the desk's read-only connection; any thread);
    one more id than shown tells whether there are more."""
    ids, rows = patients.find_ids_and_rows(session, text, limit + 1) if text.strip() else ([], [])
    truncated = len(ids) > limit
    ids = ids[:limit]
    return Found(text, ids, rows, [_cells(r) for r in rows], truncated)  # cells once, so painting is a lookup


class ResultsModel(QAbstractTableModel):
    def __init__(self, parent=None, limit: int = LIMIT):
        super().__init__(parent)
        self.limit = limit
        self._ids: list[int] = []
        self._rows: list = []  # services ResultRow, in the database's order
        self._cells: list[tuple[str, ...]] = []
        # Made once per model (not per module: Qt objects must not outlive the QApplication).
        self._red = QBrush(QColor("#8b0000"))
        self._bold = QFont()
        self._bold.setBold(True)
        self.truncated = False
        self.query = ""

    # ---- searching ---------------------------------------------------------------
    def search(self, session, text: str) -> None:
        """Search and show the answer now (on the calling thread)."""
        self.show(fetch(session, text, self.limit))

    def show(self, found: Found) -> None:
        self.beginResetModel()
        self._ids, self._rows, self._cells = found.ids, found.rows, found.cells
        self.truncated, self.query = found.truncated, found.query
        self.endResetModel()

    def clear(self) -> None:
        self.beginResetModel()
        self._ids, self._rows, self._cells, self.truncated, self.query = [], [], [], False, ""
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

    # ---- Qt model ----------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole or role == Qt.ItemDataRole.AccessibleTextRole:
            return self._cells[index.row()][col]
        if col < 4 and role != Qt.ItemDataRole.UserRole:
            return None  # the common case while painting: nothing more to say
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.UserRole:
            return row.patient_id
        if role == Qt.ItemDataRole.ForegroundRole:
            return self._red  # an objection in force stands out
        if role == Qt.ItemDataRole.FontRole:
            return self._bold
        if role == Qt.ItemDataRole.ToolTipRole and col in (4, 5):
            kind = "Type 1" if col == 4 else "Type 2"
            active = row.type1_active if col == 4 else row.type2_active
            return f"{kind} objection in force" if active else f"No {kind} objection in force"
        return None
