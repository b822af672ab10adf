"""Users (practice manager): add, remove, reset a password, change role, a new recovery key;
who can do what.

A temporary password is shown once, inline, until the manager says it has been passed
on; the user must choose their own at next unlock (services.users enforces that).
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QHeaderView,
                               QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget)

from ...domain import roles
from ...services import users as users_service
from ..model_table import ModelTable
from ..models.users_model import ROLE_ORDER, PermissionsModel, UsersModel
from . import _ask
from .base import Screen
from ..widgets import fit_columns

TITLE = "Users"


class TemporaryPasswordPanel(QGroupBox):
    """Shows one temporary password until dismissed; never stored anywhere else."""

    def __init__(self, parent=None):
        super().__init__("Temporary password", parent)
        layout = QVBoxLayout(self)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.password = QLineEdit()
        self.password.setReadOnly(True)
        self.password.setAccessibleName("Temporary password")
        font = self.password.font()
        font.setFamily("monospace")
        font.setPointSize(font.pointSize() + 4)
        self.password.setFont(font)
        self.done = QPushButton("I have passed it on: hide it")
        self.done.clicked.connect(self.forget)
        layout.addWidget(self.message)
        layout.addWidget(self.password)
        layout.addWidget(self.done)
        self.hide()

    def show_password(self, name: str, password: str, before: str = "") -> None:
        """``before``: what must happen first (on a server, the administrator's step)."""
        self.message.setText(
            (before + "\n\n" if before else "")
            + f"Give this temporary password to {name} in person. They must choose their own the next time they "
            "unlock. It is shown only now and is not kept."
        )
        self.password.setText(password)
        self.show()
        self.password.setFocus()
        self.password.selectAll()

    def show_recovery_key(self, key: str) -> None:
        self.setTitle("Recovery key")
        self.message.setText(
            "The practice's new recovery key: print it or write it down now, and lock it away. With it a practice "
            "manager who has lost their password can get in again. It is shown only now and is not kept; the old "
            "one no longer works.")
        self.password.setAccessibleName("Recovery key")
        self.password.setText(key)
        self.show()
        self.password.setFocus()
        self.password.selectAll()

    def forget(self) -> None:
        self.setTitle("Temporary password")
        self.password.setAccessibleName("Temporary password")
        self.password.clear()
        self.message.clear()
        self.hide()


class UsersScreen(Screen):
    AREAS = frozenset({"users"})

    def __init__(self, session_provider, bus, parent=None):
        super().__init__(session_provider, bus, TITLE, parent)
        self.model = UsersModel(self)
        self.permissions = PermissionsModel(self)
        body = QHBoxLayout()
        self.outer.addLayout(body, 1)
        body.addLayout(self._build_users(), 3)
        body.addWidget(self._build_permissions(), 4)
        self.add_status_line()
        self.load_when_shown()

    def _build_users(self) -> QVBoxLayout:
        left = QVBoxLayout()
        self.table = ModelTable()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Users")
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.table.verticalHeader().hide()
        self.table.selectionModel().selectionChanged.connect(self._on_selected)
        left.addWidget(self.table, 1)

        selected = QGroupBox("Selected user")
        row = QHBoxLayout(selected)
        self.role_for_selected = self._role_combo("New role for the selected user")
        self.change_role_button = QPushButton("Change &role")
        self.reset_button = QPushButton("Reset &password…")
        self.remove_button = QPushButton("Re&move…")
        for w in (self.role_for_selected, self.change_role_button, self.reset_button, self.remove_button):
            row.addWidget(w)
        self.change_role_button.clicked.connect(self.change_role)
        self.reset_button.clicked.connect(self.reset_password)
        self.remove_button.clicked.connect(self.remove)
        left.addWidget(selected)

        adding = QGroupBox("Add a user")
        form = QFormLayout(adding)
        self.new_name = QLineEdit()
        self.new_name.setAccessibleName("New user name")
        self.new_name.setPlaceholderText("e.g. jsmith (no spaces)")
        self.new_role = self._role_combo("New user's role")
        self.add_button = QPushButton("&Add user")
        self.add_button.setDefault(True)
        self.add_button.clicked.connect(self.add_user)
        self.new_name.returnPressed.connect(self.add_user)
        form.addRow("&User name:", self.new_name)
        form.addRow("R&ole:", self.new_role)
        form.addRow(self.add_button)
        left.addWidget(adding)

        recovery = QGroupBox("The practice's recovery key")
        row = QHBoxLayout(recovery)
        self.recovery_button = QPushButton("New re&covery key…")
        self.recovery_button.setToolTip("Make a new recovery key (shown once); the old one stops working")
        self.recovery_button.clicked.connect(self.new_recovery_key)
        row.addWidget(self.recovery_button)
        row.addStretch(1)
        left.addWidget(recovery)

        self.password_panel = TemporaryPasswordPanel()
        left.addWidget(self.password_panel)
        self.actions(self.change_role_button, self.reset_button, self.remove_button, self.add_button,
                     self.recovery_button)
        self._on_selected()
        return left

    def _build_permissions(self) -> QWidget:
        box = QGroupBox("Who can do what")
        layout = QVBoxLayout(box)
        view = ModelTable()
        view.setModel(self.permissions)
        view.setAccessibleName("Who can do what")
        view.verticalHeader().hide()
        fit_columns(view)  # measured once: "Yes", "No" and the headings do not change (not ResizeToContents)
        view.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        view.setEditTriggers(QAbstractItemView.NoEditTriggers)
        layout.addWidget(view)
        self.permissions_view = view
        return box

    @staticmethod
    def _role_combo(accessible: str) -> QComboBox:
        combo = QComboBox()
        combo.setAccessibleName(accessible)
        for role in ROLE_ORDER:
            combo.addItem(roles.ROLE_LABELS[role], role)
        return combo

    # --- reading ----------------------------------------------------------------
    def refresh(self) -> None:
        keep = self.selected_name()
        self.call(users_service.list_users, lambda rows: self._show(rows, keep))

    def _show(self, rows, keep: str | None) -> None:
        self.model.set_rows(rows)
        if keep and (row := self.model.row_of(keep)) >= 0:
            self.table.selectRow(row)
        self._on_selected()

    def clear(self) -> None:
        super().clear()
        self.model.set_rows([])
        self.password_panel.forget()

    def selected_name(self) -> str | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self.model.name_at(rows[0].row()) if rows else None

    def select_user(self, name: str) -> None:
        row = self.model.row_of(name)
        if row >= 0:
            self.table.selectRow(row)

    def _on_selected(self, *_args) -> None:
        name = self.selected_name()
        for w in (self.change_role_button, self.reset_button, self.remove_button, self.role_for_selected):
            w.setEnabled(name is not None and not self.busy)
        if name is not None:
            role = self.model.role_at(self.model.row_of(name))
            self.role_for_selected.setCurrentIndex(max(0, self.role_for_selected.findData(role)))

    def _on_busy(self, busy: bool) -> None:
        super()._on_busy(busy)
        if not busy:
            self._on_selected()

    # --- actions ------------------------------------------------------------------
    def add_user(self) -> None:
        name, role = self.new_name.text().strip(), self.new_role.currentData()
        self.password_panel.forget()

        def done(changes):
            self.new_name.clear()
            self.password_panel.show_password(name, changes.data["password"], _administrator_step(changes))
            self._publish_without_password(changes)

        self.call(lambda s: users_service.add(s, name, role), done, working=f"Adding {name}…", publish=False)

    def change_role(self) -> None:
        name, role = self.selected_name(), self.role_for_selected.currentData()
        if not name:
            return
        old = self.model.role_at(self.model.row_of(name))
        if users_service.promotion_hands_over_key(self._session_provider(), old, role):
            if not _ask.confirm(
                    self, "Make a practice manager",
                    f"Make {name} a practice manager? They get the manager key (to sign the exclusion file) with a "
                    "temporary password: their current password stops working now, and they must choose a new one "
                    "the next time they sign in.", yes="Make a practice manager"):
                return
            self.password_panel.forget()

        def done(changes):
            if changes.data.get("password"):
                self.password_panel.show_password(name, changes.data["password"], _administrator_step(changes))
            self._publish_without_password(changes)

        self.call(lambda s: users_service.change_role(s, name, role), done, publish=False)

    def reset_password(self) -> None:
        name = self.selected_name()
        if not name or not _ask.confirm(
            self, "Reset password",
            f"Give {name} a temporary password? Their current password stops working now, and they must "
            "choose a new one the next time they unlock.", yes="Reset password"):
            return
        self.password_panel.forget()
        def done(changes):
            self.password_panel.show_password(name, changes.data["password"], _administrator_step(changes))
            self._publish_without_password(changes)

        self.call(lambda s: users_service.reset_password(s, name), done, publish=False)

    def new_recovery_key(self) -> None:
        if not _ask.confirm(
            self, "New recovery key",
            "Make a new recovery key for the practice? The old one stops working now; the new one is shown once.",
            yes="Make a new recovery key"):
            return
        self.password_panel.forget()

        def done(changes):
            self.password_panel.show_recovery_key(changes.data["recovery_key"])
            self._publish_without_password(changes)

        self.call(users_service.new_recovery_key, done, publish=False)

    def _publish_without_password(self, changes) -> None:
        # The temporary password is shown here once; it does not travel to every screen on the bus.
        if self.bus is not None:
            self.bus.publish(replace(changes, data={}))

    def remove(self) -> None:
        name = self.selected_name()
        if not name or not _ask.confirm(
            self, "Remove user",
            f"Remove {name}? Their key is deleted and they can no longer unlock the register. "
            "What they recorded stays, with their name, in the audit trail.", yes="Remove"):
            return
        self.call(lambda s: users_service.remove(s, name))


def _administrator_step(changes) -> str:
    """On a server register, the administrator's step before the password is given
    (services/server_users.py); on the register file there is none."""
    return changes.data.get("before", "")


def create(session_provider, bus) -> UsersScreen:
    return UsersScreen(session_provider, bus)
