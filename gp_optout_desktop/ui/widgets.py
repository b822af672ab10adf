"""Small shared pieces: inline error labels, form rows, a centred card."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QVBoxLayout, QWidget

ERROR_STYLE = "color: #b00020;"
OK_STYLE = "color: #1b5e20;"
WARN_STYLE = "color: #8a5300;"


class InlineMessage(QLabel):
    """A message beside a field: hidden when empty, read out by screen readers."""

    def __init__(self, name: str, parent=None):
        super().__init__(parent)
        self.setWordWrap(True)
        self.setAccessibleName(name)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hide()

    def show_error(self, text: str) -> None:
        self._show(text, ERROR_STYLE)

    def show_ok(self, text: str) -> None:
        self._show(text, OK_STYLE)

    def show_warning(self, text: str) -> None:
        self._show(text, WARN_STYLE)

    def _show(self, text: str, style: str) -> None:
        self.setStyleSheet(style)
        self.setText(text)
        self.setVisible(bool(text))

    def clear_message(self) -> None:
        self.setText("")
        self.hide()


FIELD_WIDTH = 420


def field_with_message(field: QWidget, message: InlineMessage, width: int = FIELD_WIDTH) -> QWidget:
    """The field at a readable width and, beside it, the reason it is refused."""
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    field.setMaximumWidth(width)
    row.addWidget(field, 1)
    row.addWidget(message, 1)
    row.addStretch(0)
    return box


def card(inner: QWidget, width: int = 460) -> QWidget:
    """Centre ``inner`` in a framed card (unlock and first-run screens)."""
    outer = QWidget()
    frame = QFrame()
    frame.setFrameShape(QFrame.Shape.StyledPanel)
    frame.setMaximumWidth(width)
    frame.setMinimumWidth(min(width, 380))
    lay = QVBoxLayout(frame)
    lay.setContentsMargins(24, 20, 24, 20)
    lay.addWidget(inner)
    grid = QVBoxLayout(outer)
    grid.addStretch(1)
    row = QHBoxLayout()
    row.addStretch(1)
    row.addWidget(frame)
    row.addStretch(1)
    grid.addLayout(row)
    grid.addStretch(2)
    return outer


def heading(text: str, size: int = 16) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setPointSize(size)
    font.setBold(True)
    label.setFont(font)
    label.setWordWrap(True)
    return label


def fit_columns(table, rows: int = 50) -> None:
    """A table's columns as wide as their heading and the first ``rows`` rows' text. Not Qt's
    resizeColumnsToContents: it measures 1,000 rows through the style and the model for every
    column, 0.1-2 s on the UI thread for a long reconciliation or worklist (issue 13)."""
    model = table.model()
    metrics = table.fontMetrics()
    pad = 2 * metrics.horizontalAdvance("M")
    widest_allowed = 60 * metrics.horizontalAdvance("x")
    shown = range(min(rows, model.rowCount()))
    for column in range(model.columnCount()):
        texts = [model.headerData(column, Qt.Orientation.Horizontal)]
        texts += [model.data(model.index(r, column)) for r in shown]
        widest = max([metrics.horizontalAdvance(str(t)) for t in texts if t is not None], default=0)
        table.setColumnWidth(column, min(widest + pad, widest_allowed))
