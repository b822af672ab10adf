"""Change my password (Register menu and toolbar, beside Lock now; Ctrl+Shift+P): any signed-in
user changes their own password of their own accord, on either engine.

The current password is asked for again, so someone at a desk left unlocked cannot change it;
the new one is typed twice under the same rules as the first sign-in's change (passwords.py
NewPasswordRows). The check and the change run on a worker, as the unlock does: each is an
Argon2id run of a second or more, and the desk must keep answering meanwhile. Nothing typed
outlives the dialog: the fields are cleared when it is done, closed, or the register locks.
"""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QPushButton, QVBoxLayout

from ..services import users as users_service
from ..services.on_server import on_server
from ..services.setup import MIN_PASSWORD
from ..store.errors import Throttled, WrongPassword
from . import worker
from .passwords import CapsWatcher, NewPasswordRows, password_edit
from .screens.base import describe_error
from .widgets import FIELD_WIDTH, InlineMessage, WARN_STYLE

TITLE = "Change my password"
DONE = ("Your password was changed and the change is recorded in the audit trail. Use the new one from now on.")


class ChangePasswordDialog(QDialog):
    changed = Signal(object)  # the ChangeSet, for the bus (the audit trail screen reloads)

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self._session = session
        self._running = False
        self.setWindowTitle(TITLE)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setMinimumWidth(FIELD_WIDTH)
        v = QVBoxLayout(self)
        where = (" On the server only the new password signs in afterwards, at every desk." if on_server(session)
                 else "")
        self.note = note = QLabel(f"Signed in as {session.user}. Type your current password, then your new one twice (at least "
                      f"{MIN_PASSWORD} characters).{where}")
        note.setWordWrap(True)
        v.addWidget(note)
        form = QFormLayout()
        self.current = password_edit("Current password")
        form.addRow("&Current password", self.current)
        self.rows = NewPasswordRows(form, self.submit)
        self.current.returnPressed.connect(self.rows.first.setFocus)
        v.addLayout(form)
        self.caps = QLabel("Caps Lock is on.")
        self.caps.setStyleSheet(WARN_STYLE)
        self.caps.setAccessibleName("Caps Lock warning")
        self.caps.hide()
        for edit in (self.current, self.rows.first, self.rows.second):
            CapsWatcher(edit, self.caps)
        v.addWidget(self.caps)
        self.message = InlineMessage("Change password message")
        v.addWidget(self.message)
        self.busy = QLabel("Checking your current password and saving the new one…")
        self.busy.setAccessibleName("Busy")
        self.busy.hide()
        v.addWidget(self.busy)
        buttons = QDialogButtonBox()
        self.change_button = QPushButton("C&hange password")
        self.close_button = QPushButton("Cancel")
        # Enter in a field is the field's own (next field, or submit from the last): no button
        # takes it as well, until the dialog is done and Enter closes it.
        for button in (self.change_button, self.close_button):
            button.setAutoDefault(False)
        buttons.addButton(self.change_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.close_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.change_button.clicked.connect(self.submit)
        self.close_button.clicked.connect(self.reject)
        v.addWidget(buttons)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.change_button.isVisibleTo(self):
            self.current.setFocus()  # typing starts at once

    @property
    def running(self) -> bool:
        return self._running

    def submit(self) -> None:
        if self._running or not self.change_button.isVisible():
            return
        current = self.current.text()
        if not current:
            self._refuse("Enter your current password.", self.current)
            return
        problem = self.rows.problem()
        if problem is not None:
            self._refuse(*problem)
            return
        session, new = self._session, self.rows.text()
        self._set_busy(True)
        worker.run(lambda: users_service.change_password(session, current, new), self._done, self._failed)

    def _refuse(self, text: str, field) -> None:
        self.message.show_error(text)
        field.setFocus()
        field.selectAll()

    def _set_busy(self, busy: bool) -> None:
        self._running = busy
        for w in (self.current, self.rows.first, self.rows.second, self.change_button):
            w.setEnabled(not busy)
        self.busy.setVisible(busy)
        if busy:
            self.message.clear_message()

    def _alive(self) -> bool:
        return shiboken6.isValid(self) and self._session is not None

    def _done(self, changes) -> None:
        if not self._alive():
            return
        self._set_busy(False)
        self._clear_fields()
        for w in (self.current, self.rows.first, self.rows.second, self.change_button):
            w.setEnabled(False)
        self.change_button.hide()
        self.message.show_ok(DONE)
        self.close_button.setText("Close")
        self.close_button.setAutoDefault(True)
        self.close_button.setDefault(True)
        self.close_button.setFocus()
        self.changed.emit(changes)

    def _failed(self, exc: BaseException) -> None:
        if not self._alive():
            return
        self._set_busy(False)
        wrong_current = isinstance(exc, (WrongPassword, Throttled))
        self._refuse(describe_error(exc), self.current if wrong_current else self.rows.first)

    def _clear_fields(self) -> None:
        self.current.clear()
        self.rows.clear()

    def forget(self) -> None:
        """The register locks (Lock now, the idle lock, quitting): nothing typed stays, and an
        answer still on its way is not shown."""
        self._session = None
        self._clear_fields()
        self.message.clear_message()
        self.done(QDialog.DialogCode.Rejected)

    def reject(self) -> None:
        if self._running and self._session is not None:
            return  # the change is under way: its answer comes in a moment, then Close
        self._clear_fields()
        super().reject()
