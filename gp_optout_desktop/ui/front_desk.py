"""The front desk: one search box, results as you type, Enter opens the patient when exactly
one matches; with more, focus moves to the list and the user picks (as EMIS Web and SystmOne
do): the wrong patient must never be one keystroke away.

The search is debounced (150 ms) and runs in the database on a thread of its own (the
desk's read-only connection), so typing never waits for it, nor for a task holding the
register; the table model holds only the ids and rows it fetched. Enter, with a search
still to run or on its way, searches at once on the UI thread: the choice is made on the
answer to what is typed, never on an older one.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton,
                               QTableView, QVBoxLayout, QWidget)

from ..domain.errors import ValidationError
from ..store.errors import StoreError
from . import worker
from .bus import ChangeBus
from .models.results_model import Found, ResultsModel, fetch
from .widgets import heading

DEBOUNCE_MS = 150


class FrontDesk(QWidget):
    open_patient = Signal(int)
    record_objection = Signal(int)
    new_patient = Signal(str)  # the search text, to prefill the form

    def __init__(self, session_provider: Callable, bus: ChangeBus, parent=None):
        super().__init__(parent)
        self._session = session_provider
        self.model = ResultsModel(self)
        self._lane = worker.Lane()
        self._searching = False  # a search is on its way: its answer replaces the rows

        self.search = _SearchBox(self._down_from_search)
        self.search.setPlaceholderText("NHS number, surname (Smith, J), date of birth (dd/mm/yyyy) or postcode")
        self.search.setAccessibleName("Search patients")
        self.search.setToolTip("Find a patient as you type (Ctrl+F). Down arrow moves to the results; Enter opens.")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._typed)
        self.search.returnPressed.connect(self._enter_in_search)

        self.summary = QLabel()
        self.summary.setAccessibleName("Search result summary")

        self.table = _ResultsTable(self._key_in_table)
        self.table.setModel(self.model)
        self.table.setAccessibleName("Patients found")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSortingEnabled(False)  # the database sorts (surname, forenames)
        self.table.verticalHeader().hide()
        # Fixed row heights: no per-row measuring when 500 new rows arrive.
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 10)
        self.table.setAlternatingRowColors(True)
        self.table.setTabKeyNavigation(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for col, width in enumerate((130, 340, 120, 110, 110, 110)):
            self.table.setColumnWidth(col, width)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)  # the name gets the spare width
        self.table.activated.connect(lambda index: self.open_selected())

        self.open_button = QPushButton("&Open patient")
        self.open_button.setAccessibleName("Open patient")
        self.open_button.setToolTip("Open the selected patient (Enter)")
        self.open_button.clicked.connect(self.open_selected)
        self.record_button = QPushButton("&Record objection")
        self.record_button.setAccessibleName("Record objection")
        self.record_button.setToolTip("Record an objection for the selected patient (Ctrl+R)")
        self.record_button.clicked.connect(self.record_selected)
        self.new_button = QPushButton("&New patient")
        self.new_button.setAccessibleName("New patient")
        self.new_button.setToolTip("Add a patient who is not in the register (Ctrl+N)")
        self.new_button.clicked.connect(lambda: self.new_patient.emit(self.search.text()))
        self.not_found_button = QPushButton("Add a new patient with these details")
        self.not_found_button.setAccessibleName("Add new patient from search")
        self.not_found_button.setToolTip("Open the new-patient form filled in from the search (Ctrl+N)")
        self.not_found_button.clicked.connect(lambda: self.new_patient.emit(self.search.text()))
        self.not_found_button.hide()

        QShortcut(QKeySequence("Ctrl+F"), self, activated=self.focus_search)
        QShortcut(QKeySequence("Ctrl+N"), self, activated=lambda: self.new_patient.emit(self.search.text()))
        QShortcut(QKeySequence("Ctrl+R"), self, activated=self.record_selected)

        buttons = QHBoxLayout()
        for b in (self.open_button, self.record_button, self.new_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        found = QHBoxLayout()
        found.addWidget(self.summary)
        found.addWidget(self.not_found_button)
        found.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addWidget(heading("Front desk"))
        lay.addWidget(self.search)
        lay.addLayout(found)
        lay.addWidget(self.table, 1)
        lay.addLayout(buttons)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.refresh)
        bus.changed.connect(self._changed)
        bus.locked.connect(self.clear)
        self._update_buttons()

    # ---- searching ------------------------------------------------------------------
    def _typed(self, _text: str) -> None:
        self._timer.start()  # restarts: the search runs 150 ms after the last key

    def refresh(self) -> None:
        """Start the search (the debounce timer calls this); the rows change when it answers."""
        self._timer.stop()
        session = self._session()
        if session is None:
            return
        text, limit = self.search.text(), self.model.limit
        self._searching = True
        self._lane.submit(lambda: fetch(session, text, limit), self._answered, self._failed)

    @property
    def searching(self) -> bool:
        """A search is waiting for the pause in typing or on its way."""
        return self._timer.isActive() or self._searching

    def search_now(self) -> None:
        """Search and show the answer before returning (Enter, Open, Record)."""
        self._timer.stop()
        self._lane.forget()
        self._searching = False
        session = self._session()
        if session is None:
            return
        try:
            found = fetch(session, self.search.text(), self.model.limit)
        except (StoreError, ValidationError) as exc:
            self._failed(exc)
            return
        self._show(found)

    def _answered(self, found: Found) -> None:
        self._searching = False
        if self._session() is not None:
            self._show(found)

    def _failed(self, exc: BaseException) -> None:
        self._searching = False
        if not isinstance(exc, (StoreError, ValidationError)):
            raise exc
        self.model.clear()
        self.summary.setText(str(exc))
        self._update_buttons()

    def _show(self, found: Found) -> None:
        text = found.query
        self.model.show(found)
        self.summary.setText(self.model.summary())
        self.not_found_button.setVisible(bool(text.strip()) and self.model.rowCount() == 0)
        # Only a single match is chosen for the user; with several, nobody is chosen until they pick.
        self.table.clearSelection()
        self.table.setCurrentIndex(self.model.index(-1, -1))
        if self.model.rowCount() == 1:
            self._select_row(0)
        self._update_buttons()

    def _select_row(self, row: int) -> None:
        self.table.selectionModel().setCurrentIndex(
            self.model.index(row, 0),
            QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)

    def _changed(self, changes) -> None:
        # A new objection or patient changes what the rows show; re-run the same search.
        if "patients" in changes.areas and self.search.text().strip():
            self.refresh()

    def clear(self) -> None:
        """On lock: forget the search and every row fetched."""
        self._timer.stop()
        self._lane.forget()
        self._searching = False
        self.search.blockSignals(True)
        self.search.clear()
        self.search.blockSignals(False)
        self.model.clear()
        self.summary.clear()
        self.not_found_button.hide()
        self._update_buttons()

    def _update_buttons(self) -> None:
        has = self.model.rowCount() > 0
        self.open_button.setEnabled(has)
        self.record_button.setEnabled(has)

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    # ---- acting on the selection --------------------------------------------------
    def selected_id(self) -> int | None:
        """The patient the user chose, or the only match; None while several match and none is chosen."""
        if self.searching:
            self.search_now()  # Enter pressed before the answer came: search first
        index = self.table.currentIndex()
        if index.isValid():
            return self.model.patient_id(index.row())
        return self.model.patient_id(0) if self.model.rowCount() == 1 else None

    def _choose_from_list(self) -> None:
        """Several match: move to the list and say so; nothing opens until the user picks."""
        self.summary.setText(f"{self.model.summary()} Choose one: arrow keys, then Enter.")
        self.table.setFocus()  # no row is highlighted: the first arrow key makes the choice

    def _enter_in_search(self) -> None:
        if self.searching:
            self.search_now()
        if self.model.rowCount() > 1:
            self._choose_from_list()
        else:
            self.open_selected()

    def open_selected(self) -> None:
        patient_id = self.selected_id()
        if patient_id is not None:
            self.open_patient.emit(patient_id)
        elif self.model.rowCount() > 1:
            self._choose_from_list()
        elif self.search.text().strip():
            self.new_patient.emit(self.search.text())

    def record_selected(self) -> None:
        patient_id = self.selected_id()
        if patient_id is not None:
            self.record_objection.emit(patient_id)
        elif self.model.rowCount() > 1:
            self._choose_from_list()

    def _down_from_search(self) -> bool:
        """Down in the search box: to the results (the first row chosen), if there are any."""
        if not self.model.rowCount():
            return False
        self.table.setFocus()
        if not self.table.currentIndex().isValid():
            self._select_row(0)  # Down is a choice: the first row
        return True

    def _key_in_table(self, key) -> bool:
        """Enter opens the chosen patient; Up from the first row goes back to the search box."""
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.open_selected()
            return True
        if key == Qt.Key.Key_Up and self.table.currentIndex().row() <= 0:
            self.search.setFocus()
            return True
        return False


# The search box's and the table's own key presses, one Python call a press: an event filter on
# them ran Python for every event they received (7 a keystroke), each taking the GIL back from a
# task busy on a worker while the user typed (issue 13, ADR 0014 addendum 6).
class _SearchBox(QLineEdit):
    def __init__(self, on_down: Callable[[], bool]):
        super().__init__()
        self._on_down = on_down

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Down and self._on_down():
            return
        super().keyPressEvent(event)


class _ResultsTable(QTableView):
    def __init__(self, on_key: Callable[[int], bool]):
        super().__init__()
        self._on_key = on_key

    def keyPressEvent(self, event) -> None:
        if not self._on_key(event.key()):
            super().keyPressEvent(event)
