"""The front-desk results table: ids and the fetched rows only.

The database searches and sorts (by surname, forenames); the model never sorts or
filters Python data, so it stays fast at 1,000,000 patients.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from ...domain import nhs_number
from ...services import patients

LIMIT = 500
COLUMNS = ("NHS number", "Name", "Date of birth", "Postcode", "Type 1", "Type 2")


def _objection(active: bool) -> str:
    return "Objects" if active else ""


class ResultsModel(QAbstractTableModel):
    def __init__(self, parent=None, limit: int = LIMIT):
        super().__init__(parent)
        self.limit = limit
        self._ids: list[int] = []
        self._rows: list = []  # services ResultRow, in the database's order
        self.truncated = False
        self.query = ""

    # ---- searching ---------------------------------------------------------------
    def search(self, session, text: str) -> None:
        """Run the search in the database; one more id than shown tells whether there are more."""
        ids = patients.find_ids(session, text, self.limit + 1) if text.strip() else []
        truncated = len(ids) > self.limit
        ids = ids[: self.limit]
        rows = patients.result_rows(session, ids) if ids else []
        self.beginResetModel()
        self._ids, self._rows, self.truncated, self.query = ids, rows, truncated, text
        self.endResetModel()

    def clear(self) -> None:
        self.beginResetModel()
        self._ids, self._rows, self.truncated, self.query = [], [], False, ""
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
        row = self._rows[index.row()]
        col = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            if col == 0:
                return nhs_number.display(row.nhs_number) if row.nhs_number else "not known"
            if col == 1:
                return row.name
            if col == 2:
                return row.dob.strftime("%d/%m/%Y")
            if col == 3:
                return row.postcode
            if col == 4:
                return _objection(row.type1_active)
            if col == 5:
                return _objection(row.type2_active)
        if role == Qt.ItemDataRole.UserRole:
            return row.patient_id
        if role == Qt.ItemDataRole.ForegroundRole and col in (4, 5):
            return QBrush(QColor("#8b0000"))  # an objection in force stands out
        if role == Qt.ItemDataRole.FontRole and col in (4, 5):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole and col in (4, 5):
            kind = "Type 1" if col == 4 else "Type 2"
            active = row.type1_active if col == 4 else row.type2_active
            return f"{kind} objection in force" if active else f"No {kind} objection in force"
        return None
