"""Letter templates (practice manager): edit the wording, with the fields each kind of
letter may use listed beside it; a template with an unknown or misplaced field is
refused (letters.templates checks it on save, and 'Check' shows the same message early).

Templates are files, not register rows: saving goes through services.templates.save_template
('edit_templates' checked, a refusal audited; letters.templates writes atomically and raises
the version when the wording changes; the save audited as 'template.save').
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QFontDatabase
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

    def __init__(self, screen, templates_dir: Path | None = None):
        super().__init__(screen)
        self.screen = screen
        self.templates_dir = templates_dir  # None: the installed templates the letters are printed from
        self._saved_text = ""
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
        for b in (self.check_button, self.save_button, self.revert_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.check_button.clicked.connect(self.check)
        self.save_button.clicked.connect(self.save)
        self.revert_button.clicked.connect(self.load)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self._kind_shown = self.kind.currentData()
        screen.actions(self.save_button)
        self.load()

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

    def load(self) -> None:
        kind = self.current_kind
        self._show_fields(kind)
        path = templates.template_path(kind, self.templates_dir)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.screen.show_error(f"The {KIND_LABELS[kind].lower()} template could not be read ({exc.__class__.__name__}).")
            text = ""
        self._saved_text = text
        self.editor.setPlainText(text)
        self._show_version(text)

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
        kind, text, folder = self.current_kind, self.editor.toPlainText(), self.templates_dir

        def done(changes):
            saved = changes.data["template"]
            self._saved_text = saved.source
            self.editor.setPlainText(saved.source)
            self._show_version(saved.source)

        self.screen.call(lambda session: template_service.save_template(session, kind, text, folder), done,
                         working="Saving the template…")

    def clear(self) -> None:
        self.editor.clear()
        self._saved_text = ""
