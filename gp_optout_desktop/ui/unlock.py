"""The unlock screen (KeePassXC's DatabaseOpenWidget is the model).

Errors are shown inline, never in a modal; the password is reselected after a
failure; Caps Lock is warned about; input is disabled with a busy hint while the
key is derived off the UI thread; when throttled, the time of the next allowed
try is shown and Unlock stays disabled until then. A user who must change their
password does so here before the register opens.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (QFormLayout, QLabel, QLineEdit, QPushButton, QStackedWidget, QVBoxLayout,
                               QWidget)

from ..domain.errors import ValidationError
from ..services import session as session_service, users as users_service
from ..store.errors import RegisterCorrupt, StoreError, Throttled
from . import warm, worker
from .passwords import CapsWatcher, NewPasswordRows, caps_lock_guess, password_edit  # noqa: F401 - caps_lock_guess: tests
from .widgets import InlineMessage, WARN_STYLE, card, heading
from ..domain.uk_time import uk


class UnlockWidget(QWidget):
    unlocked = Signal(object)  # services.session.Session

    def __init__(self, folder: Path | None, *, unlock_fn: Callable = session_service.unlock_for_window,
                 recovery_fn: Callable = session_service.unlock_with_recovery,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc), server: str | None = None,
                 parent=None):
        super().__init__(parent)
        # ``server``: the register is on that server (host:port/database); ``unlock_fn`` signs in there
        # (services/server_session.py sign_in) and there is no recovery key or backup to restore here.
        self.server = server
        self.folder = Path(folder) if folder is not None else None
        self._unlock_fn = unlock_fn
        self._recovery_fn = recovery_fn
        self._clock = clock
        self._session = None
        self.pages = QStackedWidget(self)
        self.pages.addWidget(self._build_login())
        self.pages.addWidget(self._build_change())
        lay = QVBoxLayout(self)
        lay.addWidget(self.pages)
        self.setTabOrder(self.user, self.password)
        self.setTabOrder(self.password, self.unlock_button)
        self._retry_timer = QTimer(self)
        self._retry_timer.setSingleShot(True)
        self._retry_timer.timeout.connect(self._retry_allowed)

    # ---- building ------------------------------------------------------------------
    def _build_login(self) -> QWidget:
        inner = QWidget()
        v = QVBoxLayout(inner)
        v.addWidget(heading("Sign in to the objection register on the server" if self.server
                            else "Unlock the objection register"))
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.hint.setAccessibleName("Hint")
        self.hint.hide()
        v.addWidget(self.hint)
        form = QFormLayout()
        self.user = QLineEdit()
        self.user.setAccessibleName("User name")
        self.user.setToolTip("Your user name for this register")
        self.password = password_edit("Password")
        self.password.setToolTip("Your password. Enter unlocks; Alt+S shows or hides it.")
        self.password_label = QLabel("&Password")
        self.password_label.setBuddy(self.password)
        form.addRow("&User name", self.user)
        form.addRow(self.password_label, self.password)
        # On a server the recovery key comes with a password: the one the server's administrator
        # gave the manager's login (a lost password opens neither the login nor the key slot).
        self.recovery_key = password_edit("Recovery key")
        self.recovery_key.setPlaceholderText("as printed when it was made")
        self.recovery_key.returnPressed.connect(self.submit)
        self.recovery_key_label = QLabel("Reco&very key")
        self.recovery_key_label.setBuddy(self.recovery_key)
        form.addRow(self.recovery_key_label, self.recovery_key)
        self.recovery_key.hide()
        self.recovery_key_label.hide()
        v.addLayout(form)
        self.caps = QLabel("Caps Lock is on.")
        self.caps.setStyleSheet(WARN_STYLE)
        self.caps.setAccessibleName("Caps Lock warning")
        self.caps.hide()
        CapsWatcher(self.password, self.caps)
        v.addWidget(self.caps)
        self.error = InlineMessage("Unlock error")
        v.addWidget(self.error)
        self.busy = QLabel("Checking the password…")
        self.busy.setAccessibleName("Busy")
        self.busy.hide()
        v.addWidget(self.busy)
        self.unlock_button = QPushButton("&Unlock")
        self.unlock_button.setAccessibleName("Unlock")
        self.unlock_button.setToolTip("Unlock the register (Enter)")
        self.unlock_button.setDefault(True)
        self.unlock_button.clicked.connect(self.submit)
        v.addWidget(self.unlock_button)
        # A practice manager who lost their password: the recovery key printed at creation.
        self.recovery_toggle = QPushButton("Lost your password? Use the &recovery key")
        self.recovery_toggle.setCheckable(True)
        self.recovery_toggle.setFlat(True)
        self.recovery_toggle.setAccessibleName("Use the recovery key")
        self.recovery_toggle.setToolTip("Practice managers only: unlock with the recovery key printed when the register "
                                        "was created, then choose a new password")
        self.recovery_toggle.toggled.connect(self._recovery_mode)
        v.addWidget(self.recovery_toggle)
        if self.server:
            self.recovery_toggle.setToolTip("Practice managers only: the server's administrator first gives your "
                                            "login a new password; type it with the practice's recovery key, then "
                                            "choose your own password")
        # The way out when the register cannot be read (damaged, or it lost saved changes in a crash):
        # shown only then, it restores the latest backup in its place.
        self.restore_button = QPushButton("Restore the latest &backup…")
        self.restore_button.setAccessibleName("Restore the latest backup")
        self.restore_button.setToolTip("The register here cannot be read: put a backup in its place (the current files "
                                       "are kept aside). Uses the user name and password typed above, as they were "
                                       "in the backup.")
        self.restore_button.clicked.connect(self.restore_backup)
        self.restore_button.hide()
        v.addWidget(self.restore_button)
        where = QLabel(f"Register on the server {self.server}" if self.server else f"Register: {self.folder}")
        where.setAccessibleName("Register")
        where.setWordWrap(True)
        where.setStyleSheet("color: #555;")
        v.addWidget(where)
        self.user.returnPressed.connect(self._user_entered)
        self.password.returnPressed.connect(self.submit)
        return card(inner)

    def _build_change(self) -> QWidget:
        inner = QWidget()
        v = QVBoxLayout(inner)
        v.addWidget(heading("Choose a new password"))
        self.change_note = QLabel()
        self.change_note.setWordWrap(True)
        v.addWidget(self.change_note)
        form = QFormLayout()
        self.new_rows = NewPasswordRows(form, self.submit_new_password)
        self.new_password, self.new_password2 = self.new_rows.first, self.new_rows.second
        v.addLayout(form)
        self.change_error = InlineMessage("New password error")
        v.addWidget(self.change_error)
        self.change_button = QPushButton("&Save password and continue")
        self.change_button.setAccessibleName("Save new password")
        self.change_button.setDefault(True)
        self.change_button.clicked.connect(self.submit_new_password)
        v.addWidget(self.change_button)
        return card(inner)

    # ---- behaviour -----------------------------------------------------------------
    def set_hint(self, text: str) -> None:
        self.hint.setText(text)
        self.hint.setVisible(bool(text))

    def _recovery_mode(self, on: bool) -> None:
        self.password.clear()
        self.recovery_key.clear()
        self.error.clear_message()
        if self.server:  # the password stays (the administrator's new one); the key is a field of its own
            self.recovery_key.setVisible(on)
            self.recovery_key_label.setVisible(on)
            self.password.setToolTip("The password the server's administrator just gave your login." if on
                                     else "Your password. Enter unlocks; Alt+S shows or hides it.")
            self.recovery_toggle.setText("Back to the password" if on else "Lost your password? Use the &recovery key")
            (self.password if self.user.text() else self.user).setFocus()
            return
        self.password_label.setText("&Recovery key" if on else "&Password")
        self.password.setAccessibleName("Recovery key" if on else "Password")
        self.password.setPlaceholderText("as printed when the register was created" if on else "")
        self.password.setToolTip("The recovery key (spaces and hyphens do not matter). You choose a new password "
                                 "next." if on else "Your password. Enter unlocks; Alt+S shows or hides it.")
        self.recovery_toggle.setText("Back to the password" if on else "Lost your password? Use the &recovery key")
        (self.password if self.user.text() else self.user).setFocus()

    def prepare(self, user: str = "") -> None:
        """Show a clean form (after a lock, or at start), focused where typing starts."""
        self.pages.setCurrentIndex(0)
        self.recovery_toggle.setChecked(False)
        self.password.clear()
        self.error.clear_message()
        self._set_busy(False)
        if user:
            self.user.setText(user)
        (self.password if self.user.text() else self.user).setFocus()

    def _user_entered(self) -> None:
        self.password.setFocus()

    def _set_busy(self, busy: bool) -> None:
        for w in (self.user, self.password, self.recovery_key, self.recovery_toggle):
            w.setEnabled(not busy)
        self.unlock_button.setEnabled(not busy and not self._retry_timer.isActive())
        self.busy.setVisible(busy)

    def submit(self) -> None:
        if not self.unlock_button.isEnabled():
            return
        user, password = self.user.text().strip(), self.password.text()
        if not user:
            self.error.show_error("Enter your user name.")
            self.user.setFocus()
            return
        if not password:
            self.error.show_error("Enter your password.")
            self.password.setFocus()
            return
        recovering = self.recovery_toggle.isChecked()
        args = (self.folder, user, password)
        if recovering and self.server:
            if not self.recovery_key.text().strip():
                self.error.show_error("Enter the practice's recovery key.")
                self.recovery_key.setFocus()
                return
            args += (self.recovery_key.text(),)
        self.error.clear_message()
        self._set_busy(True)
        fn = self._recovery_fn if recovering else self._unlock_fn
        gate = warm.mark()
        worker.run(lambda: fn(*args), self._unlocked_after_warm, self._failed)
        warm.start(gate)  # the screens' imports, once Argon2id's memory is released (not on the UI thread)
        warm.ui_thread_once()  # what only the UI thread can do, while it waits anyway

    def _unlocked_after_warm(self, session) -> None:
        """The screens are built once their modules are imported (first unlock only), so the
        UI thread never waits on an import the warm-up is doing."""
        warm.release()
        warm.when_done(lambda: self._unlocked(session))

    def _failed(self, exc: BaseException) -> None:
        warm.release()
        self._set_busy(False)
        if isinstance(exc, Throttled):
            retry = exc.retry_at
            self.error.show_error(f"Too many wrong passwords. The next try is allowed at "
                                  f"{uk(retry):%H:%M:%S}.")
            wait_ms = max(0, int((retry - self._clock()).total_seconds() * 1000))
            self.unlock_button.setEnabled(False)
            self._retry_timer.start(wait_ms)
        elif isinstance(exc, (StoreError, ValidationError)):
            self.error.show_error(str(exc))
            self.restore_button.setVisible(isinstance(exc, RegisterCorrupt) and not self.server)
        else:
            self.error.show_error(f"The register could not be opened ({exc.__class__.__name__}).")
        self.password.setFocus()
        self.password.selectAll()

    def restore_backup(self) -> None:
        """Replace a register that cannot be read with a backup: the backup's own password is
        checked (this register's cannot be) and the replacement is confirmed explicitly."""
        from ..services import backup as backup_service
        from .screens import _ask, _paths

        user, password = self.user.text().strip(), self.password.text()
        if not user or not password:
            self.error.show_error("Type your user name and your password as it was in the backup, then choose "
                                  "the backup.")
            (self.user if not user else self.password).setFocus()
            return
        source = _paths.choose_open_file(self, "Choose the latest backup", Path.home(),
                                         "Register backups (*.gpbackup *.gpob);;All files (*)")
        if source is None:
            return
        if not _ask.confirm(self, "Replace the register that cannot be read",
                            f"The register here cannot be read. Put the backup {Path(source).name} in its place?\n\n"
                            "Anything recorded after that backup was made must be entered again. The current files "
                            "are kept aside in the register folder, not deleted.", yes="Replace with the backup"):
            return
        folder = self.folder
        self.error.clear_message()
        self._set_busy(True)

        def run():
            return backup_service.restore(folder, Path(source), user, password, replace_unreadable=True)

        def done(result) -> None:
            session, change = result
            self.restore_button.hide()
            _ask.inform(self, "Register restored", change.summary)
            self._unlocked(session)

        worker.run(run, done, self._failed)

    def _retry_allowed(self) -> None:
        self.unlock_button.setEnabled(True)
        self.error.show_ok("You may try again now.")

    def _unlocked(self, session) -> None:
        warm.release()
        self._set_busy(False)
        self.password.clear()
        self.error.clear_message()
        if session.must_change_password:
            self._session = session
            self.change_note.setText(
                "You unlocked with the recovery key. Choose a new password (at least 10 characters) before you "
                "continue; the recovery key keeps working, so lock it away again." if self.recovery_toggle.isChecked()
                else "You were given a temporary password. Choose your own (at least 10 characters) before you "
                     "continue.")
            self.recovery_toggle.setChecked(False)
            self.pages.setCurrentIndex(1)
            self.new_password.setFocus()
            return
        self.unlocked.emit(session)

    def submit_new_password(self) -> None:
        problem = self.new_rows.problem()
        if problem is not None:
            self.change_error.show_error(problem[0])
            problem[1].setFocus()
            problem[1].selectAll()
            return
        first = self.new_rows.text()
        session = self._session
        self.change_button.setEnabled(False)
        self.change_error.show_ok("Saving…")

        def done(_changes) -> None:
            self.change_button.setEnabled(True)
            self.new_rows.clear()
            self.change_error.clear_message()
            self._session = None
            self.pages.setCurrentIndex(0)
            self.unlocked.emit(session)

        def failed(exc: BaseException) -> None:
            self.change_button.setEnabled(True)
            self.change_error.show_error(str(exc))
            self.new_password.setFocus()
            self.new_password.selectAll()

        worker.run(lambda: users_service.change_own_password(session, first), done, failed)

    def discard(self) -> None:
        """Forget a half-finished password change (e.g. the window closes)."""
        if self._session is not None:
            self._session.lock()
            self._session = None
