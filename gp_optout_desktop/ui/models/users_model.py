"""Table models for the Users screen: the active users, and who may do what.

Plain QAbstractTableModels over lists the services return, so they are tested
without any widget.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt

from ...domain import roles

ROLE_ORDER = (roles.RECEPTIONIST, roles.GP, roles.MANAGER)

# Words for the permissions the domain does not label (the front-desk ones).
_DESK_LABELS = {
    "search": "search for patients",
    "view_patient": "view a patient's record",
    "add_patient": "add a patient",
    "edit_patient": "edit a patient's details",
    "record_objection": "record an objection",
    "record_withdrawal": "record a withdrawal",
    "record_include": "record an include-me request",
    "mark_coded": "mark an event as coded",
    "queue_letter": "queue a letter",
    "signpost_ndoo": "signpost the National Data Opt-out",
    "view_letters": "see the letters queue",
    "change_own_password": "change their own password",
}


def action_label(action: str) -> str:
    text = roles.ACTION_LABELS.get(action) or _DESK_LABELS.get(action) or action.replace("_", " ")
    return text[:1].upper() + text[1:]


class UsersModel(QAbstractTableModel):
    HEADERS = ("User", "Role")

    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[tuple[str, str]] = []

    def set_rows(self, rows: list[tuple[str, str]]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def name_at(self, row: int) -> str | None:
        return self._rows[row][0] if 0 <= row < len(self._rows) else None

    def role_at(self, row: int) -> str | None:
        return self._rows[row][1] if 0 <= row < len(self._rows) else None

    def row_of(self, name: str) -> int:
        return next((i for i, (n, _r) in enumerate(self._rows) if n == name), -1)

    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self.HEADERS)

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid() or role not in (Qt.DisplayRole, Qt.AccessibleTextRole):
            return None
        name, user_role = self._rows[index.row()]
        return name if index.column() == 0 else roles.ROLE_LABELS.get(user_role, user_role)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if role == Qt.DisplayRole and orientation == Qt.Horizontal:
            return self.HEADERS[section]
        return None


class PermissionsModel(QAbstractTableModel):
    """Rows: what can be done; columns: the roles; cells 'Yes' or 'No' (words, not ticks,
    so a screen reader says them)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        everyone = [a for a in sorted(roles.ALL_ACTIONS) if all(roles.allowed(r, a) for r in ROLE_ORDER)]
        some = [a for a in sorted(roles.ALL_ACTIONS) if a not in everyone]
        self._actions = some + everyone  # the differences first: that is what a manager looks for

    def action_at(self, row: int) -> str:
        return self._actions[row]

    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self._actions)

    def columnCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else 1 + len(ROLE_ORDER)

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        action = self._actions[index.row()]
        if index.column() == 0:
            return action_label(action) if role in (Qt.DisplayRole, Qt.AccessibleTextRole) else None
        may = roles.allowed(ROLE_ORDER[index.column() - 1], action)
        if role in (Qt.DisplayRole, Qt.AccessibleTextRole):
            return "Yes" if may else "No"
        if role == Qt.TextAlignmentRole:
            return int(Qt.AlignCenter)
        if role == Qt.ForegroundRole:
            from PySide6.QtGui import QColor

            return QColor("#004b1c") if may else QColor("#6b6b6b")
        return None

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if role != Qt.DisplayRole or orientation != Qt.Horizontal:
            return None
        return "May…" if section == 0 else roles.ROLE_LABELS[ROLE_ORDER[section - 1]]
