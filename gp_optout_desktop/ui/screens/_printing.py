"""Printing the letters' PDF pages on a printer.

Qt cannot send a PDF file to a printer, so each page is rendered with QtPdf to a bitmap
at the printer's resolution and painted onto the QPrinter: what prints is exactly the
page that was previewed. The print dialog is injectable like ui.dialogs (its exec()
would hang a headless test): tests queue a QPrinter set to write a PDF file.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

from PySide6.QtCore import QRectF, QSize
from PySide6.QtGui import QPainter
from PySide6.QtPdf import QPdfDocument
from PySide6.QtPrintSupport import QPrintDialog, QPrinter

from .. import dialogs

_next: deque = deque()
MAX_DPI = 300  # enough for text; an A4 page is then about 35 MB as a bitmap, one at a time


class PrintError(Exception):
    """Printing failed; the message says why in words."""


def set_next_printer(printer: QPrinter | None) -> None:
    """The next print dialog returns ``printer`` (None: the user cancelled)."""
    _next.append(printer)


def reset() -> None:
    _next.clear()


def choose_printer(parent, title: str) -> QPrinter | None:
    dialogs.shown.append((title, ""))
    if _next:
        return _next.popleft()
    if dialogs.strict:
        raise AssertionError(f"Unexpected print dialog with no queued printer: {title}")
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    dialog = QPrintDialog(printer, parent)
    dialog.setWindowTitle(title)
    return printer if dialog.exec() == QPrintDialog.DialogCode.Accepted else None


def fit(paper: QRectF, width: int, height: int) -> QRectF:
    """The largest rectangle of the page's shape inside the paper, at its top left: an A4 letter
    on Letter paper is scaled, never stretched."""
    scale = min(paper.width() / width, paper.height() / height)
    return QRectF(paper.left(), paper.top(), width * scale, height * scale)


def print_pdf(pdf_path: Path, printer: QPrinter) -> int:
    """Paint every page of ``pdf_path`` onto ``printer``; returns the number of pages printed."""
    doc = QPdfDocument()
    if doc.load(str(pdf_path)) != QPdfDocument.Error.None_:
        raise PrintError(f"The letters' PDF could not be opened for printing ({doc.error().name}).")
    try:
        pages = doc.pageCount()
        if pages == 0:
            raise PrintError("The letters' PDF has no pages.")
        printer.setFullPage(True)  # the PDF pages carry their own margins
        printer.setDocName(Path(pdf_path).stem)
        painter = QPainter()
        if not painter.begin(printer):
            raise PrintError("The printer could not be started: check it is on and connected.")
        try:
            dpi = min(printer.resolution(), MAX_DPI)
            for page in range(pages):
                if page:
                    printer.newPage()
                points = doc.pagePointSize(page)
                image = doc.render(page, QSize(round(points.width() * dpi / 72), round(points.height() * dpi / 72)))
                painter.drawImage(fit(QRectF(printer.pageLayout().fullRectPixels(printer.resolution())),
                                      image.width(), image.height()), image)
        finally:
            painter.end()
        return pages
    finally:
        doc.close()
