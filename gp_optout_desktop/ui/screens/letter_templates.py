"""Letter templates (practice manager): edit the wording, with the fields each kind of
letter may use listed beside it; a template with an unknown or misplaced field is
refused (letters.templates checks it on save, and 'Check' shows the same message early).

The practice's wording is kept in the register (services.templates): saving checks
'edit_templates' (a refusal audited), raises the version when the wording changes and is
audited as 'template.save'; 'Use the standard wording' goes back to the installed template.
"""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase, QTextCursor
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QHeaderView, QLabel, QPlainTextEdit, QPushButton, QSplitter,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)
from PySide6.QtCore import Qt

from ...letters import templates
from ...services import templates as template_service
from ...letters.fields import describe_fields
from ...letters.model import KIND_LABELS, KINDS
from . import _ask


class TemplatesPanel(QWidget):
    """Lives on the Letters screen's Templates tab; uses that screen's runner and status line."""

    def __init__(self, screen):
        super().__init__(screen)
        self.screen = screen
        self._saved_text = ""
        self._loaded = False
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.kind = QComboBox()
        self.kind.setAccessibleName("Letter")
        for kind in KINDS:
            self.kind.addItem(KIND_LABELS[kind], kind)
        label = QLabel("&Letter:")
        label.setBuddy(self.kind)
        top.addWidget(label)
        top.addWidget(self.kind, 1)
        self.version = QLabel()
        self.version.setAccessibleName("Template version")
        top.addWidget(self.version)
        layout.addLayout(top)
        self.origin = QLabel()
        self.origin.setWordWrap(True)
        self.origin.setAccessibleName("Whose wording this is")
        layout.addWidget(self.origin)

        split = QSplitter(Qt.Horizontal)
        self.editor = QPlainTextEdit()
        self.editor.setAccessibleName("Template text")
        self.editor.setFont(QFontDatabase.systemFont(QFontDatabase.FixedFont))
        self.editor.setTabChangesFocus(True)  # Tab moves on, so the keyboard is never trapped here
        split.addWidget(self.editor)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(QLabel("<b>Fields you can use</b> (double-click or Enter to insert):"))
        self.fields = QTableWidget(0, 2)
        self.fields.setAccessibleName("Fields you can use")
        self.fields.setHorizontalHeaderLabels(["Field", "What it becomes"])
        self.fields.verticalHeader().hide()
        self.fields.setEditTriggers(QTableWidget.NoEditTriggers)
        self.fields.setSelectionBehavior(QTableWidget.SelectRows)
        self.fields.setWordWrap(True)
        self.fields.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeToContents)
        self.fields.horizontalHeader().setSectionResizeMode(1, QHeaderView.Stretch)
        self.fields.cellDoubleClicked.connect(lambda row, _c: self.insert_field(row))
        self.fields.activated.connect(lambda index: self.insert_field(index.row()))
        side_layout.addWidget(self.fields, 1)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        layout.addWidget(split, 1)

        buttons = QHBoxLayout()
        self.check_button = QPushButton("&Check")
        self.save_button = QPushButton("&Save template")
        self.revert_button = QPushButton("&Undo my changes")
        self.installed_button = QPushButton("Use the standard &wording…")
        self.installed_button.setToolTip("Forget the practice's wording of this letter and print it from the "
                                         "template installed with the app.")
        for b in (self.check_button, self.save_button, self.revert_button, self.installed_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.check_button.clicked.connect(self.check)
        self.save_button.clicked.connect(self.save)
        self.revert_button.clicked.connect(self.load)
        self.installed_button.clicked.connect(self.use_installed)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self._kind_shown = self.kind.currentData()
        screen.actions(self.save_button)

    @property
    def current_kind(self) -> str:
        return self.kind.currentData()

    @property
    def modified(self) -> bool:
        return self.editor.toPlainText() != self._saved_text

    def _kind_changed(self, _index: int) -> None:
        if self.modified and not _ask.confirm(
                self, "Unsaved changes", f"Discard your changes to the {KIND_LABELS[self._kind_shown].lower()} "
                                         "template?", yes="Discard"):
            self.kind.blockSignals(True)
            self.kind.setCurrentIndex(self.kind.findData(self._kind_shown))
            self.kind.blockSignals(False)
            return
        self._kind_shown = self.current_kind
        self.load()

    def load_once(self) -> None:
        """First showing after an unlock; later reloads are the user's (kind, Undo), so an
        edit in progress is never replaced behind their back."""
        if not self._loaded:
            self.load()

    def load(self) -> None:
        kind = self.current_kind
        self._show_fields(kind)
        self.screen.call(lambda session: template_service.current(session, kind),
                         lambda found: self._show(kind, found))

    def _show(self, kind: str, found: template_service.CurrentTemplate) -> None:
        if kind != self.current_kind:
            return  # the user has moved on to another letter; its own answer follows
        self._loaded = True
        text = found.template.source
        self._saved_text = text
        self.editor.setPlainText(text)
        self.editor.moveCursor(QTextCursor.MoveOperation.Start)  # read from the top, header first
        self._show_version(text)
        self.origin.setText(
            f"The practice's own wording, saved by {found.saved_by} on {found.saved_at[:10]}." if found.own
            else "The standard wording installed with the app. Saving your changes keeps them in this register "
                 "(backed up with it); the installed wording is not changed.")
        self.installed_button.setEnabled(found.own)

    def _show_version(self, text: str) -> None:
        try:
            self.version.setText(f"version {templates.parse_template(text).version}")
        except templates.TemplateError:
            self.version.setText("")

    def _show_fields(self, kind: str) -> None:
        rows = describe_fields(kind)
        self.fields.setRowCount(len(rows))
        for i, (name, meaning) in enumerate(rows):
            self.fields.setItem(i, 0, QTableWidgetItem(f"{{{name}}}"))
            self.fields.setItem(i, 1, QTableWidgetItem(meaning))
        self.fields.resizeRowsToContents()

    def field_names(self) -> list[str]:
        return [self.fields.item(r, 0).text() for r in range(self.fields.rowCount())]

    def insert_field(self, row: int) -> None:
        self.editor.insertPlainText(self.fields.item(row, 0).text())
        self.editor.setFocus()

    def check(self) -> bool:
        try:
            parsed = templates.parse_template(self.editor.toPlainText(), expected_kind=self.current_kind)
        except templates.TemplateError as exc:
            self.screen.show_error(f"Not saved: {exc}")
            return False
        self.screen.show_info(f"The template is fine (version {parsed.version}); save it to use it.")
        return True

    def save(self) -> None:
        if not self.check():
            return
        kind, text = self.current_kind, self.editor.toPlainText()
        self.screen.call(lambda session: template_service.save_template(session, kind, text),
                         lambda _changes: self.load(), working="Saving the template…")

    def use_installed(self) -> None:
        kind = self.current_kind
        if not _ask.confirm(self, "Use the standard wording",
                            f"Print the {KIND_LABELS[kind].lower()} letter from the standard wording installed "
                            "with the app? The practice's own wording of this letter is removed.",
                            yes="Use the standard wording"):
            return
        self.screen.call(lambda session: template_service.use_installed(session, kind), lambda _c: self.load())

    def clear(self) -> None:
        self.editor.clear()
        self.origin.clear()
        self._saved_text = ""
        self._loaded = False
