"""First run: create the practice's register (first user = practice manager, recovery key
shown once with print/save), or open a demo register of synthetic patients."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QTextDocument
from PySide6.QtWidgets import (QCheckBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QProgressBar, QPushButton,
                               QStackedWidget, QVBoxLayout, QWidget)

from ..domain import roles
from ..domain.errors import ValidationError
from ..services import demo as demo_service, setup
from ..store.errors import StoreError
from . import dialogs, worker
from .passwords import DIFFER, password_edit
from .widgets import InlineMessage, card, heading

DEMO_PATIENTS = 5000
CHOICE, CREATE, RECOVERY, DEMO = range(4)


class FirstRunWidget(QStackedWidget):
    opened = Signal(object)  # the new register's first session (after the recovery key was kept)
    demo_ready = Signal()  # the demo register exists: unlock it as one of the demo users

    def __init__(self, folder: Path, demo_patients: int = DEMO_PATIENTS, parent=None):
        super().__init__(parent)
        self.folder = Path(folder)
        self.demo_patients = demo_patients
        self._session = None
        self.recovery_key = ""
        for page in (self._choice_page(), self._create_page(), self._recovery_page(), self._demo_page()):
            self.addWidget(page)

    # ---- pages -------------------------------------------------------------------------
    def _choice_page(self) -> QWidget:
        inner = QWidget()
        v = QVBoxLayout(inner)
        v.addWidget(heading("Welcome to the GP objection register"))
        text = QLabel("There is no register on this computer yet. Create the practice's register, or open a demo "
                      "register of synthetic patients to try the app.")
        text.setWordWrap(True)
        v.addWidget(text)
        self.create_choice = QPushButton("&Create a register for this practice")
        self.create_choice.setAccessibleName("Create a register")
        self.create_choice.clicked.connect(self.show_create)
        self.demo_choice = QPushButton("Open a &demo register (synthetic patients)")
        self.demo_choice.setAccessibleName("Open a demo register")
        self.demo_choice.clicked.connect(self.start_demo)
        for b in (self.create_choice, self.demo_choice):
            b.setAutoDefault(True)
            b.setMinimumHeight(40)
            v.addWidget(b)
        where = QLabel(f"Register folder: {self.folder}")
        where.setWordWrap(True)
        where.setStyleSheet("color: #555;")
        v.addWidget(where)
        return card(inner, 520)

    def _create_page(self) -> QWidget:
        inner = QWidget()
        v = QVBoxLayout(inner)
        v.addWidget(heading("Create the practice's register"))
        form = QFormLayout()
        self.fields: dict[str, QLineEdit] = {}
        specs = (("practice_name", "Practice &name", None), ("ods", "&ODS code", "e.g. F84003"),
                 ("address1", "&Address", None), ("address2", "", None), ("phone", "&Phone", None),
                 ("email", "&Email", None), ("user", "Your &user name", "you will be the practice manager"))
        for name, label, placeholder in specs:
            edit = QLineEdit()
            edit.setAccessibleName(label.replace("&", "") or "Address line 2")
            if placeholder:
                edit.setPlaceholderText(placeholder)
            self.fields[name] = edit
            form.addRow(label, edit)
        self.fields["password"] = password_edit("Password")
        self.fields["password2"] = password_edit("Password again")
        form.addRow("Pass&word", self.fields["password"])
        form.addRow("Password a&gain", self.fields["password2"])
        v.addLayout(form)
        self.create_error = InlineMessage("Create register error")
        v.addWidget(self.create_error)
        row = QHBoxLayout()
        self.create_button = QPushButton("C&reate register")
        self.create_button.setAccessibleName("Create register")
        self.create_button.setAutoDefault(True)
        self.create_button.clicked.connect(self.create)
        back = QPushButton("Back")
        back.clicked.connect(lambda: self.setCurrentIndex(CHOICE))
        row.addWidget(self.create_button)
        row.addWidget(back)
        v.addLayout(row)
        self.fields["password2"].returnPressed.connect(self.create)
        return card(inner, 560)

    def _recovery_page(self) -> QWidget:
        inner = QWidget()
        v = QVBoxLayout(inner)
        v.addWidget(heading("Your recovery key"))
        note = QLabel("This key opens the register if every practice manager's password is lost. It is shown only "
                      "once. Print it or save it, and keep it locked away from the computer.")
        note.setWordWrap(True)
        v.addWidget(note)
        self.key_label = QLabel()
        self.key_label.setAccessibleName("Recovery key")
        self.key_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = QFont("Monospace")
        font.setStyleHint(QFont.StyleHint.TypeWriter)
        font.setPointSize(14)
        self.key_label.setFont(font)
        self.key_label.setWordWrap(True)
        v.addWidget(self.key_label)
        row = QHBoxLayout()
        self.print_button = QPushButton("&Print…")
        self.print_button.setAccessibleName("Print recovery key")
        self.print_button.clicked.connect(self.print_key)
        self.save_button = QPushButton("&Save to a file…")
        self.save_button.setAccessibleName("Save recovery key")
        self.save_button.clicked.connect(self.save_key)
        row.addWidget(self.print_button)
        row.addWidget(self.save_button)
        row.addStretch(1)
        v.addLayout(row)
        self.key_message = InlineMessage("Recovery key message")
        v.addWidget(self.key_message)
        self.kept = QCheckBox("I have printed or saved the recovery key and will keep it safe")
        self.kept.setAccessibleName("Recovery key kept")
        v.addWidget(self.kept)
        self.continue_button = QPushButton("&Continue")
        self.continue_button.setAccessibleName("Continue")
        self.continue_button.setEnabled(False)
        self.kept.toggled.connect(self.continue_button.setEnabled)
        self.continue_button.clicked.connect(self._continue)
        v.addWidget(self.continue_button)
        return card(inner, 600)

    def _demo_page(self) -> QWidget:
        inner = QWidget()
        v = QVBoxLayout(inner)
        v.addWidget(heading("Demo register"))
        self.demo_text = QLabel()
        self.demo_text.setWordWrap(True)
        self.demo_text.setAccessibleName("Demo register progress")
        v.addWidget(self.demo_text)
        self.demo_progress = QProgressBar()
        self.demo_progress.setRange(0, 0)  # busy: the generator gives no steps
        v.addWidget(self.demo_progress)
        self.demo_continue = QPushButton("&Continue to unlock")
        self.demo_continue.setAccessibleName("Continue to unlock")
        self.demo_continue.setAutoDefault(True)
        self.demo_continue.hide()
        self.demo_continue.clicked.connect(self.demo_ready.emit)
        v.addWidget(self.demo_continue)
        return card(inner, 560)

    # ---- create ------------------------------------------------------------------------
    def show_create(self) -> None:
        self.setCurrentIndex(CREATE)
        self.fields["practice_name"].setFocus()

    def create(self) -> None:
        f = {k: e.text() for k, e in self.fields.items()}
        if f["password"] != f["password2"]:
            self.create_error.show_error(DIFFER)
            self.fields["password2"].setFocus()
            return
        try:
            practice = setup.practice_details(name=f["practice_name"], address=[f["address1"], f["address2"]],
                                              phone=f["phone"], email=f["email"])
        except ValidationError as exc:
            self._create_failed(exc)
            return
        self.create_error.show_ok("Creating the register…")
        self.create_button.setEnabled(False)
        folder = self.folder
        worker.run(lambda: setup.create_register(folder, ods=f["ods"], practice=practice, user=f["user"],
                                                 password=f["password"]),
                   self._created, self._create_failed)

    def _create_failed(self, exc: BaseException) -> None:
        self.create_button.setEnabled(True)
        if isinstance(exc, (ValidationError, StoreError)):
            self.create_error.show_error(str(exc))
            target = {"practice_name": "practice_name", "ods": "ods", "user": "user",
                      "password": "password"}.get(getattr(exc, "field", None) or "")
            if target:
                self.fields[target].setFocus()
        else:
            self.create_error.show_error(f"The register could not be created ({exc.__class__.__name__}).")

    def _created(self, result) -> None:
        self._session, self.recovery_key = result
        for edit in self.fields.values():
            edit.clear()
        self.create_error.clear_message()
        self.key_label.setText(self.recovery_key)
        self.setCurrentIndex(RECOVERY)
        self.print_button.setFocus()

    def _key_text(self) -> str:
        practice = self._session.practice() if self._session else {}
        return (f"Recovery key for the GP objection register of {practice.get('name', '')} "
                f"({practice.get('ods', '')})\n\n{self.recovery_key}\n\n"
                f"Register folder: {self.folder}\nKeep this paper locked away, apart from the computer.\n")

    def print_key(self) -> None:
        doc = QTextDocument()
        doc.setHtml("<pre style='font-size:14pt'>" + html.escape(self._key_text()) + "</pre>")
        if dialogs.print_document(self, "Print the recovery key", doc):
            self.key_message.show_ok("Sent to the printer.")

    def save_key(self) -> None:
        path = dialogs.save_path(self, "Save the recovery key", str(Path.home() / "register-recovery-key.txt"))
        if not path:
            return
        try:
            Path(path).write_text(self._key_text(), encoding="utf-8")
        except OSError as exc:
            self.key_message.show_error(f"Could not save it there: {exc.strerror}.")
            return
        self.key_message.show_ok(f"Saved to {path}. Move it to a USB stick or print it, then delete it here.")

    def _continue(self) -> None:
        session, self._session = self._session, None
        self.recovery_key = ""
        self.key_label.clear()
        self.opened.emit(session)

    # ---- demo --------------------------------------------------------------------------
    def start_demo(self) -> None:
        self.setCurrentIndex(DEMO)
        self.demo_text.setText(f"Creating a demo register with {self.demo_patients:,} synthetic patients "
                               "(NHS numbers beginning 999, made-up names)…")
        self.demo_progress.show()
        folder, count = self.folder, self.demo_patients

        def build():
            session, _recovery, stats = demo_service.create_demo(folder, count)
            session.lock()
            return stats

        worker.run(build, self._demo_built, self._demo_failed)

    def _demo_built(self, stats: dict) -> None:
        self.demo_progress.hide()
        users = "".join(f"<li><b>{html.escape(name)}</b> / <code>{html.escape(pw)}</code> "
                        f"({roles.ROLE_LABELS[role].lower()})</li>"
                        for name, (pw, role) in demo_service.DEMO_USERS.items())
        self.demo_text.setText(f"The demo register is ready: {stats['patients']:,} synthetic patients. "
                               f"Unlock it as one of these users:<ul>{users}</ul>")
        self.demo_continue.show()
        self.demo_continue.setFocus()

    def _demo_failed(self, exc: BaseException) -> None:
        self.demo_progress.hide()
        self.demo_text.setText(f"The demo register could not be created: {exc}")
