"""Password fields shared by the unlock form, first run and Change my password: a field with
show/hide, and the new password typed twice with the rules every change uses."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFormLayout, QLabel, QLineEdit

from ..domain.errors import ValidationError
from ..services.setup import check_password

DIFFER = "The two passwords differ. Type the same password twice."


def caps_lock_guess(text: str, shift: bool) -> bool | None:
    """Qt has no portable Caps Lock query: an upper-case letter typed without Shift (or a
    lower-case one with Shift) means it is on. None when the key says nothing (digits)."""
    if len(text) != 1 or not text.isalpha() or text.lower() == text.upper():
        return None
    return text.isupper() != shift


class CapsWatcher(QObject):
    """Shows ``label`` while Caps Lock seems to be on, from the keys typed into ``edit``."""

    def __init__(self, edit: QLineEdit, label: QLabel):
        super().__init__(edit)
        self._label = label
        edit.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Type.KeyPress:
            if event.key() == Qt.Key.Key_CapsLock:
                self._label.setVisible(not self._label.isVisible())
            else:
                shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
                guess = caps_lock_guess(event.text(), shift)
                if guess is not None:
                    self._label.setVisible(guess)
        return False


def password_edit(name: str) -> QLineEdit:
    """A password field with a show/hide action (Alt+S flips it)."""
    edit = QLineEdit()
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    edit.setAccessibleName(name)
    show = QAction("Show password", edit)
    show.setCheckable(True)
    show.setShortcut(QKeySequence("Alt+S"))
    show.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
    show.setToolTip("Show or hide the password (Alt+S)")
    show.setIcon(edit.style().standardIcon(edit.style().StandardPixmap.SP_FileDialogContentsView))

    def flip(on: bool) -> None:
        edit.setEchoMode(QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password)
        show.setText("Hide password" if on else "Show password")

    show.toggled.connect(flip)
    edit.addAction(show, QLineEdit.ActionPosition.TrailingPosition)
    edit.addAction(show)  # so the widget shortcut works while the field has focus
    edit.show_action = show
    return edit


class NewPasswordRows:
    """'New password' and 'Again' in a form: Enter in the first moves to the second, Enter in
    the second submits. ``problem()`` applies the rules before any Argon2id run is spent (the
    service checks the length again: it is the rule's owner)."""

    def __init__(self, form: QFormLayout, submit: Callable[[], None]):
        self.first = password_edit("New password")
        self.second = password_edit("New password again")
        form.addRow("&New password", self.first)
        form.addRow("&Again", self.second)
        self.first.returnPressed.connect(self.second.setFocus)
        self.second.returnPressed.connect(submit)

    def problem(self) -> tuple[str, QLineEdit] | None:
        """The sentence to show and the field to correct, or None when the password may be tried."""
        first, second = self.first.text(), self.second.text()
        if first != second:
            return DIFFER, self.second
        try:
            check_password(first)
        except ValidationError as exc:
            return str(exc), self.first
        return None

    def text(self) -> str:
        return self.first.text()

    def clear(self) -> None:
        self.first.clear()
        self.second.clear()

    def set_enabled(self, on: bool) -> None:
        self.first.setEnabled(on)
        self.second.setEnabled(on)
