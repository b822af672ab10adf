"""The audit trail as a table, and the filtered view as CSV (tested without widgets)."""

from __future__ import annotations

from typing import Sequence

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QColor

from ...services.audit import AuditRow, csv_bytes  # the one CSV form, pure, in services
from ...domain.audit_words import OUTCOMES, action_words, detail_words, patient_words
from ...domain.roles import ROLE_LABELS
from ...domain.uk_time import uk

COLUMNS = (
    ("When", "at"), ("User", "user"), ("Role", "role"), ("Action", "action"), ("Patient", "patient"),
    ("Outcome", "outcome"), ("Workstation", "workstation"), ("Detail", "detail"),
)
_FLAGGED = {"denied", "failed"}


def local_time(row: AuditRow) -> str:
    return uk(row.at).strftime("%d %b %Y %H:%M:%S")


def cell_text(row: AuditRow, attr: str) -> str:
    """In words (domain.audit_words); the CSV export keeps the stored codes."""
    if attr == "at":
        return local_time(row)
    value = str(getattr(row, attr))
    shown = {"action": action_words, "patient": patient_words, "detail": detail_words,
             "outcome": lambda v: OUTCOMES.get(v, v), "role": lambda v: ROLE_LABELS.get(v, v)}.get(attr)
    return shown(value) if shown else value


class AuditModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[AuditRow] = []

    @property
    def rows(self) -> list[AuditRow]:
        return list(self._rows)

    def csv(self) -> bytes:
        """The rows shown, as the CSV services.audit.export_csv writes."""
        return csv_bytes(self._rows)

    def set_rows(self, rows: Sequence[AuditRow]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        if role in (Qt.DisplayRole, Qt.AccessibleTextRole):
            return cell_text(row, COLUMNS[index.column()][1])
        if role == Qt.ToolTipRole and COLUMNS[index.column()][1] == "at":
            return row.at.isoformat()  # the stored UTC time, exactly
        if role == Qt.ForegroundRole and row.outcome in _FLAGGED:
            return QColor("#a4000f")  # refusals and failed logins stand out
        return None

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if role != Qt.DisplayRole:
            return None
        return COLUMNS[section][0] if orientation == Qt.Horizontal else None
