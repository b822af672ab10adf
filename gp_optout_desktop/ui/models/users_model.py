"""Table models for the Users screen: the active users, and who may do what.

Plain QAbstractTableModels over lists the services return, so they are tested
without any widget.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QColor

from ...domain import roles
from .item_table import ACCESSIBLE, DISPLAY, FOREGROUND, HORIZONTAL

ALIGNMENT = Qt.ItemDataRole.TextAlignmentRole.value
_CENTRE = int(Qt.AlignmentFlag.AlignCenter.value)

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

    def data(self, index, role=DISPLAY):
        role = int(role)
        if not index.isValid() or (role != DISPLAY and role != ACCESSIBLE):
            return None
        name, user_role = self._rows[index.row()]
        return name if index.column() == 0 else roles.ROLE_LABELS.get(user_role, user_role)

    def headerData(self, section, orientation, role=DISPLAY):
        if int(role) == DISPLAY and orientation == HORIZONTAL:
            return self.HEADERS[section]
        return None


class PermissionsModel(QAbstractTableModel):
    """Rows: what can be done; columns: the roles; cells 'Yes' or 'No' (words, not ticks,
    so a screen reader says them).

    The cells are made once and roles compared as ints: the view sizes its columns by
    asking every cell, and comparing PySide's role enums per call held the UI thread for
    about 60 ms while the screen was built after an unlock (issue 13)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        everyone = [a for a in sorted(roles.ALL_ACTIONS) if all(roles.allowed(r, a) for r in ROLE_ORDER)]
        some = [a for a in sorted(roles.ALL_ACTIONS) if a not in everyone]
        self._actions = some + everyone  # the differences first: that is what a manager looks for
        self._cells = [(action_label(a),) + tuple(roles.allowed(r, a) for r in ROLE_ORDER) for a in self._actions]
        self._colours = {True: QColor("#004b1c"), False: QColor("#6b6b6b")}
        self._headers = ("May…",) + tuple(roles.ROLE_LABELS[r] for r in ROLE_ORDER)

    def action_at(self, row: int) -> str:
        return self._actions[row]

    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self._actions)

    def columnCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else 1 + len(ROLE_ORDER)

    def data(self, index, role=DISPLAY):
        if not index.isValid():
            return None
        role = int(role)  # an int from Qt's views; an enum from Python callers
        cell = self._cells[index.row()][index.column()]
        if index.column() == 0:
            return cell if role == DISPLAY or role == ACCESSIBLE else None
        if role == DISPLAY or role == ACCESSIBLE:
            return "Yes" if cell else "No"
        if role == ALIGNMENT:
            return _CENTRE
        if role == FOREGROUND:
            return self._colours[cell]
        return None

    def headerData(self, section, orientation, role=DISPLAY):
        if int(role) != DISPLAY or orientation != HORIZONTAL:
            return None
        return self._headers[section]
