"""Letters (practice manager): the queue with deadlines (overdue highlighted), preview the
pages before printing, print a batch to a PDF file or a printer, see the same PDF pages
afterwards, mark sent, reprint; template editing is on its own tab (letter_templates.py).

Printing goes through services.letters.print_batch, which marks the letters sent only
once their PDF exists; a printer then gets exactly those pages (_printing.print_pdf).
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import date
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QDate, QIODevice, QPointF, Qt
from PySide6.QtPdf import QPdfDocument
from PySide6.QtPdfWidgets import QPdfView
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QDateEdit, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QPushButton, QSpinBox, QSplitter, QTabWidget, QVBoxLayout,
                               QWidget)

from ...letters import apart
from ...services import letters as letters_service
from .. import worker
from ..model_table import ModelTable
from ..models.letters_model import LettersModel
from . import _ask, _paths, _printing
from ..widgets import fit_columns
from .base import SIZE_FROM_ROWS, Screen
from ...domain.uk_time import uk_today

TITLE = "Letters"


MULTI_PAGE_LIMIT = 20  # more pages than this are shown one at a time (see _fit_pages)


class PdfPreview(QWidget):
    """The PDF pages exactly as printed, with a line saying which file they are."""

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.caption = QLabel("Print letters to see their pages here.")
        self.caption.setWordWrap(True)
        self.caption.setAccessibleName("Preview caption")
        self.document = QPdfDocument(self)
        self.view = QPdfView(self)
        self.view.setDocument(self.document)
        self.view.setPageMode(QPdfView.PageMode.MultiPage)
        self.view.setZoomMode(QPdfView.ZoomMode.FitToWidth)
        self.view.setAccessibleName("Letter preview")
        self.page = QSpinBox()  # shown for long batches, which are shown one page at a time
        self.page.setAccessibleName("Preview page")
        self.page.findChild(QLineEdit).setAccessibleName("Preview page number")  # what a screen reader reads
        self.page.setPrefix("Page ")
        self.page.valueChanged.connect(lambda n: self.view.pageNavigator().jump(n - 1, QPointF(), 0))
        self.page.hide()
        self.print_button = QPushButton("Print &these pages…")
        self.print_button.setEnabled(False)
        layout.addWidget(self.caption)
        layout.addWidget(self.page)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.print_button)
        self.path: Path | None = None
        self._buffer: QBuffer | None = None

    def _one_page_at_a_time(self) -> None:
        # Before loading: laid out as one scrolling column, a 658-letter batch held the UI
        # thread for over a second measuring every page (ADR 0014).
        self.view.setPageMode(QPdfView.PageMode.SinglePage)

    def _fit_pages(self) -> None:
        """A short document scrolls as one column; a long one is shown a page at a time,
        chosen with the page box."""
        pages = self.document.pageCount()
        if pages <= MULTI_PAGE_LIMIT:
            self.view.setPageMode(QPdfView.PageMode.MultiPage)
            self.page.hide()
            return
        self.page.blockSignals(True)
        self.page.setRange(1, pages)
        self.page.setSuffix(f" of {pages}")
        self.page.setValue(1)
        self.page.blockSignals(False)
        self.page.show()

    def show_pdf(self, path: Path, what: str) -> None:
        self._close()
        self._one_page_at_a_time()
        error = self.document.load(str(path))
        self.path = Path(path) if error == QPdfDocument.Error.None_ else None
        pages = self.document.pageCount() if self.path else 0
        self._fit_pages()
        self.caption.setText(f"{what}: {pages} page{'s' if pages != 1 else ''} ({Path(path).name})." if self.path
                             else f"The PDF {Path(path).name} could not be opened for preview.")
        self.print_button.setEnabled(self.path is not None)

    def show_draft(self, draft: letters_service.LetterPreview) -> None:
        """Pages not yet printed, from memory (never a temp file: they carry names and addresses).
        Not printable from here: printing goes through Print, which marks them sent."""
        self._close()
        self._buffer = QBuffer(self)
        self._buffer.setData(QByteArray(draft.pdf))
        self._buffer.open(QIODevice.OpenModeFlag.ReadOnly)
        self._one_page_at_a_time()
        self.document.load(self._buffer)
        self._fit_pages()
        which = (f"the first {draft.letters} of {draft.asked} letters" if draft.asked > draft.letters
                 else f"{draft.letters} letter{'s' if draft.letters != 1 else ''}")
        self.caption.setText(f"Preview of {which}, {draft.pages} page{'s' if draft.pages != 1 else ''}: "
                             "not printed, nothing marked sent.")

    def _close(self) -> None:
        self.document.close()
        self.page.hide()
        self.path = None
        self.print_button.setEnabled(False)
        if self._buffer is not None:
            self._buffer.close()
            self._buffer.setData(QByteArray())
            self._buffer.deleteLater()
            self._buffer = None

    def clear(self) -> None:
        self._close()
        self.caption.setText("Print letters to see their pages here.")


class LettersScreen(Screen):
    AREAS = frozenset({"letters", "patients"})

    def __init__(self, session_provider, bus, parent=None):
        super().__init__(session_provider, bus, TITLE, parent)
        self._scratch: Path | None = None  # private temp folder for printer jobs; removed on lock
        self.model = LettersModel(self)
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_queue(), "&Queue")
        self.outer.addWidget(self.tabs, 1)
        self._add_templates_tab()
        self.add_status_line()
        self.load_when_shown()
        # Start the letters' renderer process now (about half a second), not at the first preview.
        worker.run(apart.warm, lambda _r: None, lambda _e: None)

    def _add_templates_tab(self) -> None:
        from .letter_templates import TemplatesPanel  # a failure here is the whole screen's, logged and shown

        self.templates = TemplatesPanel(self)
        self.tabs.addTab(self.templates, "&Templates")

    # --- building -----------------------------------------------------------------------
    def _build_queue(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setAccessibleName("Letters waiting")
        layout.addWidget(self.summary)
        # Confirmations promised in an acknowledgement: they print once their codes are confirmed.
        self.held_note = QLabel()
        self.held_note.setWordWrap(True)
        self.held_note.setAccessibleName("Confirmations waiting for codes")
        layout.addWidget(self.held_note)
        split = QSplitter(Qt.Horizontal)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        self.table = ModelTable()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Letters waiting to be sent")
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)  # one line a letter: more of the queue in view
        # ResizeToContents measures every row on every change: 4 s for 6,425 letters, measured.
        # Columns are sized once per reload from the first rows instead (0.3 s).
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.Interactive)
        header.setResizeContentsPrecision(SIZE_FROM_ROWS)
        header.setStretchLastSection(True)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        left_layout.addWidget(self.table, 1)
        left_layout.addWidget(self._build_print())
        left_layout.addWidget(self._build_reprint())
        # The two whole-list letters share a row, so the queue keeps the height for its rows.
        whole_list = QHBoxLayout()
        whole_list.addWidget(self._build_notice())
        whole_list.addWidget(self._build_policy_change())
        left_layout.addLayout(whole_list)
        split.addWidget(left)
        self.preview = PdfPreview()
        self.preview.print_button.clicked.connect(self.print_previewed)
        split.addWidget(self.preview)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        layout.addWidget(split, 1)
        return page

    def _build_print(self) -> QGroupBox:
        box = QGroupBox("Print and send")
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        self.select_overdue_button = QPushButton("Select &overdue")
        self.select_overdue_button.clicked.connect(self.select_overdue)
        self.preview_button = QPushButton("Pre&view")
        self.preview_button.setToolTip("Show the pages as they would print today, without printing or "
                                       f"marking anything sent (Alt+V; at most {letters_service.PREVIEW_LIMIT} letters).")
        self.preview_button.clicked.connect(self.preview_letters)
        self.pdf_button = QPushButton("Print to &PDF…")
        self.pdf_button.clicked.connect(self.print_to_pdf)
        self.printer_button = QPushButton("Print to p&rinter…")
        self.printer_button.clicked.connect(self.print_to_printer)
        for w in (self.select_overdue_button, self.preview_button, self.pdf_button, self.printer_button):
            row.addWidget(w)
        layout.addLayout(row)
        self.split_check = QCheckBox("Also save one PDF per letter in a folder (for email)")
        layout.addWidget(self.split_check)
        sent_row = QHBoxLayout()
        self.sent_on = QDateEdit()
        self.sent_on.setCalendarPopup(True)
        self.sent_on.setDisplayFormat("dd/MM/yyyy")
        self.sent_on.setAccessibleName("Date sent")
        self.sent_on.setMaximumDate(QDate.currentDate())
        self.sent_on.setDate(QDate.currentDate())
        self.mark_button = QPushButton("&Mark sent without printing…")
        self.mark_button.clicked.connect(self.mark_sent)
        label = QLabel("Sent &on:")
        label.setBuddy(self.sent_on)
        sent_row.addWidget(label)
        sent_row.addWidget(self.sent_on)
        sent_row.addWidget(self.mark_button)
        sent_row.addStretch(1)
        layout.addLayout(sent_row)
        self.actions(self.preview_button, self.pdf_button, self.printer_button, self.mark_button)
        return box

    def _build_reprint(self) -> QGroupBox:
        box = QGroupBox("Reprint a letter already sent")
        row = QHBoxLayout(box)
        self.reprint_nhs = QLineEdit()
        self.reprint_nhs.setAccessibleName("NHS number to reprint for")
        self.reprint_nhs.setPlaceholderText("NHS number")
        self.reprint_button = QPushButton("Reprint &latest letter…")
        self.reprint_button.clicked.connect(self.reprint)
        self.reprint_nhs.returnPressed.connect(self.reprint)
        label = QLabel("&NHS number:")
        label.setBuddy(self.reprint_nhs)
        row.addWidget(label)
        row.addWidget(self.reprint_nhs, 1)
        row.addWidget(self.reprint_button)
        self.actions(self.reprint_button)
        return box

    def _build_notice(self) -> QGroupBox:
        box = QGroupBox("Practice-wide opt-out")
        row = QHBoxLayout(box)
        self.notice_button = QPushButton("&Queue the notice to every patient aged 16 or over…")
        self.notice_button.setToolTip("While a GP has the practice-wide opt-out on, every patient must be told "
                                      "what it means and how to ask to be included: one letter to each patient aged "
                                      "16 or over, never one per household.")
        self.notice_button.clicked.connect(self.queue_notice)
        row.addWidget(self.notice_button)
        row.addStretch(1)
        self.actions(self.notice_button)
        return box

    def _build_policy_change(self) -> QGroupBox:
        box = QGroupBox("Type 1 policy change")
        row = QHBoxLayout(box)
        self.policy_change_button = QPushButton("Write to every &objector in force…")
        self.policy_change_button.setToolTip(
            "Letters promise that the practice will tell patients if Type 1 opt-outs change. Queue the "
            "practice's own policy-change letter (Templates tab) to every patient whose objection is in force.")
        self.policy_change_button.clicked.connect(self.queue_policy_change)
        row.addWidget(self.policy_change_button)
        row.addStretch(1)
        self.actions(self.policy_change_button)
        return box

    def queue_policy_change(self) -> None:
        """Count first (off the UI thread), then ask with the number, then queue."""
        self.call(letters_service.policy_change_audience, self._confirm_policy_change)

    def _confirm_policy_change(self, count) -> None:
        if not _ask.confirm(self, "Write to every objector in force",
                            f"Queue the Type 1 policy-change letter to {count:,} patient{'s' if count != 1 else ''} "
                            "whose objection is in force (code confirmed in the clinical system)? It uses the "
                            "practice's own wording from the Templates tab and is due within one calendar month.",
                            yes="Queue the letters"):
            return
        self.call(letters_service.queue_policy_change)

    def queue_notice(self) -> None:
        if not _ask.confirm(self, "Tell patients about the practice-wide opt-out",
                            "Queue the practice-wide opt-out notice for every patient aged 16 or over who has "
                            "not had it since the opt-out was turned on? Each is addressed to the patient alone "
                            "and is due within one calendar month.", yes="Queue the notices"):
            return
        self.call(letters_service.queue_practice_wide_notice)

    # --- the queue ------------------------------------------------------------------------
    def refresh(self) -> None:
        self.call(letters_service.pending_and_held, self._show_both)
        if hasattr(self, "templates"):
            self.templates.load_once()

    def _show_both(self, result) -> None:
        rows, held = result
        self._show(rows)
        if held:
            late = sum(1 for h in held if h.overdue)
            self.held_note.setText(
                f"{len(held)} confirmation{'s wait' if len(held) != 1 else ' waits'} for codes to be confirmed in "
                "the clinical system (coding worklist, then reconciliation); each prints once its code is found."
                + (f" {late} of them past due: check the coding." if late else ""))
        else:
            self.held_note.clear()
        self.held_note.setStyleSheet("color: #a4000f;" if any(h.overdue for h in held) else "")

    def _show(self, rows) -> None:
        self.model.set_rows(rows)
        fit_columns(self.table)
        overdue = self.model.overdue_count()
        text = f"{len(rows)} letter{'s' if len(rows) != 1 else ''} waiting to be sent"
        text += f"; {overdue} OVERDUE (past the one-month deadline): send those first." if overdue else "."
        self.summary.setText(text)
        self.summary.setStyleSheet("color: #a4000f; font-weight: bold;" if overdue else "")
        self._update_buttons()

    def clear(self) -> None:
        super().clear()
        self.model.set_rows([])
        self.summary.clear()
        self.held_note.clear()
        self.preview.clear()
        self.reprint_nhs.clear()
        self._drop_scratch()
        if hasattr(self, "templates"):
            self.templates.clear()

    def selected_ids(self) -> list[int]:
        rows = sorted(i.row() for i in self.table.selectionModel().selectedRows())
        return [self.model.letter_at(r).letter_id for r in rows]

    def _target_ids(self) -> list[int] | None:
        """The selected letters, or None for every letter waiting."""
        return self.selected_ids() or None

    def select_overdue(self) -> None:
        self.table.clearSelection()
        for row, letter in enumerate(self.model.rows):
            if letter.overdue:
                self.table.selectionModel().select(self.model.index(row, 0),
                                                   self.table.selectionModel().SelectionFlag.Select
                                                   | self.table.selectionModel().SelectionFlag.Rows)

    def _update_buttons(self, *_args) -> None:
        chosen, total = len(self.selected_ids()), self.model.rowCount()
        what = f"{chosen} selected" if chosen else f"all {total}"
        self.preview_button.setText(f"Pre&view {what}")
        self.pdf_button.setText(f"Print {what} to &PDF…")
        self.printer_button.setText(f"Print {what} to p&rinter…")
        self.mark_button.setText(f"&Mark {chosen} sent without printing…" if chosen else "&Mark sent without printing…")
        if not self.busy:
            self.preview_button.setEnabled(total > 0)
            self.pdf_button.setEnabled(total > 0)
            self.printer_button.setEnabled(total > 0)
            self.mark_button.setEnabled(chosen > 0)
        self.select_overdue_button.setEnabled(self.model.overdue_count() > 0)

    def _on_busy(self, busy: bool) -> None:
        super()._on_busy(busy)
        if not busy:
            self._update_buttons()

    # --- printing -------------------------------------------------------------------------
    def _split_dir(self) -> tuple[bool, Path | None]:
        if not self.split_check.isChecked():
            return True, None
        folder = _paths.choose_folder(self, "Choose the folder for one PDF per letter", Path.home())
        return folder is not None, folder

    def preview_letters(self) -> None:
        ids = self._target_ids()
        self.call(lambda s: letters_service.preview(s, ids), self._show_draft, working="Preparing the preview…")

    def _show_draft(self, draft: letters_service.LetterPreview) -> None:
        self.preview.show_draft(draft)
        self.show_info(self.preview.caption.text())

    def print_to_pdf(self) -> None:
        ids = self._target_ids()
        target = _paths.choose_save_file(self, "Save the letters as a PDF",
                                         Path.home() / f"letters-{uk_today():%Y-%m-%d}.pdf", "PDF files (*.pdf)")
        if target is None:
            return
        ok, split = self._split_dir()
        if not ok:
            return
        self.call(lambda s: letters_service.print_batch(s, target, letter_ids=ids, split_dir=split),
                  lambda changes: self.preview.show_pdf(Path(changes.data["path"]), "Printed and marked sent"),
                  working="Printing the letters to a PDF file…")

    def print_to_printer(self) -> None:
        ids = self._target_ids()
        printer = _printing.choose_printer(self, "Print the letters")
        if printer is None:
            return
        ok, split = self._split_dir()
        if not ok:
            return
        pdf = self._scratch_dir() / f"letters-{uk_today():%Y-%m-%d}.pdf"

        def run(session):
            changes = letters_service.print_batch(session, pdf, letter_ids=ids, split_dir=split)
            try:
                _printing.print_pdf(pdf, printer)
            except _printing.PrintError as exc:
                # They are marked sent (their PDF exists); say so, and how to get the paper copies.
                raise _printing.PrintError(f"{exc} The letters were marked sent: print the pages shown in the "
                                           "preview again, or reprint them.") from None
            return changes

        def failed(_exc):
            if pdf.exists():
                self.preview.show_pdf(pdf, "Marked sent but NOT printed")
                self._refresh_after_error()

        self.call(run, lambda _c: self.preview.show_pdf(pdf, "Sent to the printer and marked sent"),
                  failed=failed, working="Printing the letters…")

    def _refresh_after_error(self) -> None:
        message = self.status.text()
        self.call(letters_service.pending, lambda rows: (self._show(rows), self.show_error(message)))

    def print_previewed(self) -> None:
        path = self.preview.path
        if path is None:
            return
        printer = _printing.choose_printer(self, "Print these pages")
        if printer is None:
            return
        self.call(lambda _s: _printing.print_pdf(path, printer),
                  lambda pages: self.show_info(f"Sent {pages} page{'s' if pages != 1 else ''} to the printer."),
                  working="Printing…")

    def mark_sent(self) -> None:
        ids = self.selected_ids()
        if not ids:
            return
        d = self.sent_on.date()
        on = date(d.year(), d.month(), d.day())
        if not _ask.confirm(self, "Mark letters sent",
                            f"Mark {len(ids)} letter{'s' if len(ids) != 1 else ''} as sent on {on.day} {on:%B %Y} "
                            "without printing them here (for example, sent by email)?", yes="Mark sent"):
            return
        self.call(lambda s: letters_service.mark_sent(s, ids, on))

    def reprint(self) -> None:
        nhs = self.reprint_nhs.text().strip()
        if not nhs:
            self.show_error("Enter the patient's NHS number.")
            self.reprint_nhs.setFocus()
            return
        target = _paths.choose_save_file(self, "Save the reprinted letter",
                                         Path.home() / "letter-reprint.pdf", "PDF files (*.pdf)")
        if target is None:
            return
        self.call(lambda s: letters_service.reprint(s, nhs, target),
                  lambda changes: self.preview.show_pdf(Path(changes.data["path"]), "Reprint"))

    # --- the private scratch folder for printer jobs ------------------------------------------
    def _scratch_dir(self) -> Path:
        if self._scratch is None or not self._scratch.exists():
            self._scratch = Path(tempfile.mkdtemp(prefix="gp-optout-print-"))  # mode 0700
        return self._scratch

    def _drop_scratch(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def closeEvent(self, event) -> None:
        self._drop_scratch()
        super().closeEvent(event)


def create(session_provider, bus) -> LettersScreen:
    return LettersScreen(session_provider, bus)
