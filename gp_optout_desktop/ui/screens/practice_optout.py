"""Practice-wide opt-out (GP only): the current state and its history; turn it on or off
with a reason and an effective date, after a confirmation stating NHS England's position.

Individual objections are separate events and are never changed by this setting; while
it is on, the exclusion file lists only the patients who asked to be included.
"""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import QDate
from PySide6.QtWidgets import (QAbstractItemView, QDateEdit, QFormLayout, QGroupBox, QHeaderView, QLabel, QLineEdit,
                               QPushButton, QVBoxLayout)

from ...domain.practice_policy import NHSE_POSITION, OFF, ON
from ...services import coding as coding_service, exclusion as exclusion_service, overview as overview_service
from ..model_table import ModelTable
from ..models.policy_model import PolicyHistoryModel
from . import _ask
from .base import Screen

TITLE = "Practice-wide opt-out"


def describe_state(status) -> str:
    if status.latest is None:
        return "The practice-wide opt-out is OFF. It has never been turned on in this register."
    c = status.latest
    since = f"{c.effective.day} {c.effective:%B %Y}"
    if status.on:
        return (f"The practice-wide opt-out is ON, since {since} (turned on by {c.recorded_by}). Nobody's GP data is "
                "extracted except patients who have asked to be included.")
    return f"The practice-wide opt-out is OFF, since {since} (turned off by {c.recorded_by})."


class PracticeOptOutScreen(Screen):
    AREAS = frozenset({"policy", "coding", "patients"})

    def __init__(self, session_provider, bus, parent=None):
        super().__init__(session_provider, bus, TITLE, parent)
        self.status_obj = None
        self.state = QLabel()
        self.state.setWordWrap(True)
        self.state.setAccessibleName("Current state")
        font = self.state.font()
        font.setPointSize(font.pointSize() + 2)
        self.state.setFont(font)
        self.outer.addWidget(self.state)
        self.included = QLabel()
        self.included.setAccessibleName("Patients who asked to be included")
        self.outer.addWidget(self.included)
        # National extractions read the code in each record: the opt-out as GPs applied it is codes.
        self.coding = QLabel()
        self.coding.setWordWrap(True)
        self.coding.setAccessibleName("Practice-wide codes in the clinical system")
        self.outer.addWidget(self.coding)
        position = QLabel(f"<i>NHS England's position:</i> {NHSE_POSITION}")
        position.setWordWrap(True)
        position.setAccessibleName("NHS England's position")
        self.outer.addWidget(position)
        self.outer.addWidget(self._build_change())
        self.add_status_line()
        self.model = PolicyHistoryModel(self)
        history = QGroupBox("History (newest first)")
        self.table = ModelTable()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Practice-wide opt-out history")
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.Stretch)

        QVBoxLayout(history).addWidget(self.table)
        self.outer.addWidget(history, 1)
        self.load_when_shown()

    def _build_change(self) -> QGroupBox:
        box = QGroupBox("Change it")
        form = QFormLayout(box)
        self.reason = QLineEdit()
        self.reason.setAccessibleName("Reason")
        self.reason.setPlaceholderText("e.g. Partners' decision at the practice meeting of 3 March")
        self.effective = QDateEdit()
        self.effective.setCalendarPopup(True)
        self.effective.setDisplayFormat("dd/MM/yyyy")
        self.effective.setAccessibleName("Effective date")
        self._reset_date()
        self.effective.setMaximumWidth(160)
        self.change_button = QPushButton("Turn it &on…")
        self.change_button.setMaximumWidth(240)
        self.change_button.clicked.connect(self.change)
        form.addRow("&Reason:", self.reason)
        form.addRow("&Effective from:", self.effective)
        form.addRow("", self.change_button)
        self.actions(self.change_button)
        return box

    def _reset_date(self) -> None:
        today = QDate.currentDate()
        self.effective.setMaximumDate(today)  # the domain refuses a future date; do not offer one
        self.effective.setDate(today)

    def refresh(self) -> None:
        self.call(exclusion_service.practice_optout_status, self._show)
        self.call(overview_service.overview, self._show_included)
        self.call(coding_service.practice_wide_summary, self._show_coding, publish=False)

    def _show_coding(self, s) -> None:
        self.coding.setText(
            f"In the clinical system: {s.to_add:,} practice-wide Type 1 codes to add, {s.to_remove:,} to remove, "
            f"{s.in_place:,} confirmed in place; {s.spared:,} patients object individually and keep their own code. "
            "Turning it on lists an add for every patient who has not asked to be included; lifting it lists the "
            "removals (never for a patient who objects individually). They are on the Coding screen.")

    def _show_included(self, data) -> None:
        n = data.included
        self.included.setText(f"{n} patient{'s have' if n != 1 else ' has'} asked to be included (recorded from "
                              "the patient view at the front desk).")

    def _show(self, status) -> None:
        self.status_obj = status
        self.state.setText(describe_state(status))
        self.state.setStyleSheet("color: #8a5300; font-weight: bold;" if status.on else "")
        self.change_button.setText("Turn it &off…" if status.on else "Turn it &on…")
        self.model.set_history(status.history)

    def clear(self) -> None:
        super().clear()
        self.status_obj = None
        self.state.clear()
        self.included.clear()
        self.coding.clear()
        self.model.set_history([])

    def target_state(self) -> str:
        return OFF if self.status_obj is not None and self.status_obj.on else ON

    def change(self) -> None:
        if self.status_obj is None:
            return
        state, reason = self.target_state(), self.reason.text().strip()
        if not reason:
            self.show_error("Give a reason for changing the practice-wide opt-out.")
            self.reason.setFocus()
            return
        d = self.effective.date()
        effective = date(d.year(), d.month(), d.day())
        when = f"{effective.day} {effective:%B %Y}"
        if state == ON:
            question = (f"Turn the practice-wide opt-out ON from {when}?\n\nNHS England's position: {NHSE_POSITION}\n\n"
                        "Every patient must be told. Patients may ask to be included. Individual objections are "
                        "kept as they are. The Type 1 code is listed for adding to the record of every patient who "
                        "has not asked to be included: national extractions read only that code.")
            yes = "Turn it on"
        else:
            question = (f"Turn the practice-wide opt-out OFF from {when}?\n\nNHS England's position: {NHSE_POSITION}\n\n"
                        "From then, only patients with their own objection are kept out of extractions. The "
                        "practice-wide codes are listed for removal, except for patients who object individually.")
            yes = "Turn it off"
        if not _ask.confirm(self, TITLE, question, yes=yes):
            return

        def done(_changes):
            self.reason.clear()
            self._reset_date()
            self.refresh()

        self.call(lambda s: exclusion_service.set_practice_optout(s, state, reason, effective), done)


def create(session_provider, bus) -> PracticeOptOutScreen:
    return PracticeOptOutScreen(session_provider, bus)
