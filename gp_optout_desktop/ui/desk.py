"""The front-desk flow: search -> patient -> record objection / new patient -> confirmation.

One stacked widget routes between the pages; each page only emits what the user
asked for. ``place()``/``restore()`` let the idle lock return to the same patient.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QStackedWidget, QVBoxLayout, QWidget

from ..domain import codes
from .bus import ChangeBus
from .front_desk import FrontDesk
from .new_patient import NewPatientForm
from .patient_view import PatientView
from .record_objection import RecordObjectionForm
from .widgets import heading

SEARCH, PATIENT, RECORD, NEW, DONE = range(5)


class Confirmation(QWidget):
    """A plain confirmation of what was recorded; Enter goes back to the desk for the next patient."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.patient_id: int | None = None
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setAccessibleName("Confirmation")
        f = self.text.font()
        f.setPointSize(f.pointSize() + 2)
        self.text.setFont(f)
        self.next_button = QPushButton("&Next patient")
        self.next_button.setAccessibleName("Next patient")
        self.next_button.setToolTip("Back to the search for the next patient (Enter)")
        self.next_button.setDefault(True)
        self.open_button = QPushButton("&Open this patient's record")
        self.open_button.setAccessibleName("Open this patient's record")
        for button in (self.next_button, self.open_button):
            button.setAutoDefault(True)  # Enter presses the focused button
        v = QVBoxLayout(self)
        v.addWidget(heading("Done"))
        v.addWidget(self.text)
        row = QHBoxLayout()
        row.addWidget(self.next_button)
        row.addWidget(self.open_button)
        row.addStretch(1)
        v.addLayout(row)
        v.addStretch(1)

    def show_summary(self, patient_id: int, summary: str) -> None:
        self.patient_id = patient_id
        self.text.setText(summary)
        self.next_button.setFocus()

    def clear(self) -> None:
        self.patient_id = None
        self.text.clear()


class DeskFlow(QStackedWidget):
    def __init__(self, session_provider: Callable, bus: ChangeBus, parent=None):
        super().__init__(parent)
        self.front = FrontDesk(session_provider, bus)
        self.patient = PatientView(session_provider, bus)
        self.record = RecordObjectionForm(session_provider, bus)
        self.new = NewPatientForm(session_provider, bus)
        self.done = Confirmation()
        for page in (self.front, self.patient, self.record, self.new, self.done):
            self.addWidget(page)
        self._return_to = SEARCH  # where Cancel on the record form goes

        self.front.open_patient.connect(self.open_patient)
        self.front.record_objection.connect(self.record_objection)
        self.front.new_patient.connect(self.new_patient)
        self.patient.record.connect(self.record_objection)
        self.patient.withdraw.connect(lambda pid, kind: self.record_objection(pid, codes.WITHDRAW, kind))
        self.patient.back.connect(self.to_search)
        self.patient.edit.connect(self.edit_patient)
        self.record.cancelled.connect(self._record_cancelled)
        self.record.recorded.connect(self._finished)
        self.new.cancelled.connect(self._new_cancelled)
        self.new.added.connect(self._patient_added)
        self.new.edited.connect(self._patient_edited)
        self.done.next_button.clicked.connect(self.to_search)
        self.done.open_button.clicked.connect(lambda: self.open_patient(self.done.patient_id))
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self.done, activated=self.to_search)
        # F-keys for the desk's common actions, from any desk page (docs/user-guide.md lists them).
        for key, action in ((Qt.Key.Key_F2, self.f2_find), (Qt.Key.Key_F3, self.f3_new_patient),
                            (Qt.Key.Key_F4, self.f4_record)):
            shortcut = QShortcut(QKeySequence(key), self, activated=action)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        bus.locked.connect(self.done.clear)

    # ---- F-keys ---------------------------------------------------------------------
    def _leave_form(self) -> bool:
        """Leaving a form the user typed into asks first (the forms' own Esc rule)."""
        page = {RECORD: self.record, NEW: self.new}.get(self.currentIndex())
        if page is None:
            return True
        page.cancel()  # asks if anything was typed; moves on only if the user agrees
        return self.currentIndex() not in (RECORD, NEW)

    def f2_find(self) -> None:
        if self._leave_form():
            self.to_search()

    def f3_new_patient(self) -> None:
        if self._leave_form():
            self.new_patient(self.front.search.text() if self.currentIndex() == SEARCH else "")

    def f4_record(self) -> None:
        """Record an objection for the patient open, or the one chosen at the front desk."""
        page = self.currentIndex()
        if page == PATIENT and self.patient.patient_id is not None:
            self.record_objection(self.patient.patient_id)
        elif page == SEARCH:
            self.front.record_selected()

    def to_search(self) -> None:
        self.patient.clear()
        self.setCurrentIndex(SEARCH)
        self.front.focus_search()

    def open_patient(self, patient_id: int | None) -> None:
        if patient_id is None:
            return
        if self.patient.show_patient(patient_id):
            self.setCurrentIndex(PATIENT)
            self.patient.record_button.setFocus()
        elif self.currentIndex() == SEARCH and self.patient.message.text():
            self.front.summary.setText(self.patient.message.text())  # said where the person is looking

    def record_objection(self, patient_id: int, action: str = codes.REGISTER, kind: str = codes.TYPE1) -> None:
        self._return_to = PATIENT if self.currentIndex() == PATIENT else SEARCH
        if self.record.start(patient_id, action, kind):
            self.setCurrentIndex(RECORD)

    def new_patient(self, query: str = "") -> None:
        self.new.start(query)
        self.setCurrentIndex(NEW)
        self.new.start(query)  # again once visible, so the focus lands in the first empty field

    def edit_patient(self, patient_id: int) -> None:
        rec = self.patient.record_data
        if rec is None or rec.patient.patient_id != patient_id:
            return
        self.setCurrentIndex(NEW)
        self.new.start_edit(rec.patient)  # once visible, so the focus lands in the form

    def _new_cancelled(self) -> None:
        if self.new.editing is not None:
            self.open_patient(self.new.editing)
        else:
            self.to_search()

    def _patient_edited(self, patient_id: int, summary: str) -> None:
        self.open_patient(patient_id)
        self.patient.message.show_ok(summary)

    def _record_cancelled(self) -> None:
        if self._return_to == PATIENT and self.patient.patient_id is not None:
            self.setCurrentIndex(PATIENT)
        else:
            self.to_search()

    def _finished(self, patient_id: int, summary: str) -> None:
        self.patient.clear()
        self.done.show_summary(patient_id, summary)
        self.setCurrentIndex(DONE)
        self.done.next_button.setFocus()

    def _patient_added(self, patient_id: int, summary: str) -> None:
        # Most patients added at the desk came to object: go straight to the form.
        self._return_to = SEARCH
        if self.record.start(patient_id):
            self.record.general.show_ok(summary)
            self.setCurrentIndex(RECORD)

    # ---- the idle lock returns here -------------------------------------------------
    def place(self) -> dict:
        page = self.currentIndex()
        out = {"page": page}
        if page == PATIENT:
            out["patient_id"] = self.patient.patient_id
        elif page == RECORD:
            out.update(patient_id=self.record.patient_id, action=self.record.action, kind=self.record.kind())
        elif page == NEW and self.new.editing is not None:
            out = {"page": PATIENT, "patient_id": self.new.editing}  # back to the record, not a half-done edit
        return out

    def restore(self, place: dict) -> None:
        page = place.get("page", SEARCH)
        if page == PATIENT and place.get("patient_id"):
            self.open_patient(place["patient_id"])
        elif page == RECORD and place.get("patient_id"):
            self.record_objection(place["patient_id"], place["action"], place["kind"])
        elif page == NEW:
            self.new_patient()
        else:
            self.to_search()
