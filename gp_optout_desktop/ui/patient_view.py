"""One patient's record: current status in plain words, the full history, letters,
and the National Data Opt-out signpost. Opening it is an audited read."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                               QScrollArea, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from ..domain import codes
from ..domain.errors import ValidationError
from ..domain import acting_for
from ..domain.events import INCLUDE, NDOO_SIGNPOST, PENDING, PROXY_ROLES, VIA_LABELS
from ..domain.exclusion_rules import extraction_effect
from ..domain.in_force import coding_words, gp_data_words
from ..letters.model import KIND_LABELS
from ..services import exclusion as exclusion_service, objections, patients
from ..store.errors import StoreError
from . import dialogs
from .bus import ChangeBus
from .screens import include_me
from .screens.base import describe_error
from .widgets import InlineMessage, heading
from ..domain.uk_time import uk

LETTER_KINDS = KIND_LABELS  # one set of names for letters, on screen and in the queue


def _day(value) -> str:
    """An ISO date or datetime (str or object) as 6 Jan 2014."""
    if not value:
        return ""
    from datetime import date, datetime
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        value = uk(value).date() if value.tzinfo else value.date()
    return f"{value.day} {value:%b %Y}"


def describe_event(e) -> str:
    what = {INCLUDE: "Request to be included"}.get(e.kind, f"{codes.SHORT_LABELS.get(e.kind, e.kind)} objection")
    return f"{what} {'recorded' if e.action == codes.REGISTER else 'withdrawn'}"


def describe_proxy(e, submitted_by: dict[int, str]) -> tuple[str, str]:
    """Who acted: a short cell text and the full detail (evidence, verifier) for its tooltip."""
    if e.submitted_by is not None:
        text = f"On the form of {submitted_by.get(e.submitted_by, 'another patient')}"
        return text, text
    if e.proxy is None:
        return "The patient", "The patient acted for themselves"
    p = e.proxy
    role = PROXY_ROLES.get(p.role, p.role)
    return f"{p.name} ({role})", f"{p.name} ({role}); evidence seen: {p.evidence}; verified by {p.verified_by}"


class PatientView(QWidget):
    record = Signal(int)
    withdraw = Signal(int, str)  # patient id, objection kind
    edit = Signal(int)
    back = Signal()

    HISTORY_COLUMNS = ("Effective", "What", "Received", "How received", "Recorded by", "Acting", "Coded in clinical system")

    def __init__(self, session_provider: Callable, bus: ChangeBus, parent=None):
        super().__init__(parent)
        self._session = session_provider
        self._bus = bus
        self.patient_id: int | None = None
        self.record_data = None
        self.policy_on = False  # the practice-wide opt-out, read with each patient
        self.awaits_export = False  # their latest change is newer than the last exclusion file

        self.name = heading("")
        self.name.setAccessibleName("Patient name")
        self.details = QLabel()
        self.details.setAccessibleName("Patient details")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.status_box = QGroupBox("Current status")
        self.status_labels: dict[str, QLabel] = {}
        sl = QVBoxLayout(self.status_box)
        for kind, name in ((codes.TYPE1, "Type 1 status"), (codes.TYPE2, "Type 2 status"), (INCLUDE, "Inclusion status")):
            label = QLabel()
            label.setAccessibleName(name)
            label.setWordWrap(True)
            f = label.font()
            f.setPointSize(f.pointSize() + 1)
            label.setFont(f)
            self.status_labels[kind] = label
            sl.addWidget(label)
        # The line that matters at the desk: is the objection in force in national extractions
        # (its code confirmed in the clinical system), or only received, and what is pending?
        self.effect = QLabel()
        self.effect.setAccessibleName("What happens to their GP data")
        self.effect.setWordWrap(True)
        f = self.effect.font()
        f.setPointSize(f.pointSize() + 1)
        self.effect.setFont(f)
        sl.addWidget(self.effect)
        self.pending = QLabel()
        self.pending.setAccessibleName("What is pending")
        self.pending.setWordWrap(True)
        sl.addWidget(self.pending)
        # The exclusion file: the practice's own extracts only, never national extractions.
        self.local_effect = QLabel()
        self.local_effect.setAccessibleName("The practice's own extracts")
        self.local_effect.setWordWrap(True)
        sl.addWidget(self.local_effect)

        self.record_button = self._button("&Record objection", "Record an objection for this patient (Ctrl+R)",
                                          lambda: self.record.emit(self.patient_id))
        self.withdraw_button = self._button("&Withdraw objection…", "Record that the patient withdraws their objection",
                                            self._withdraw)
        # Include-me: offered only while the practice-wide opt-out is on; withdrawing an
        # active request is offered whenever there is one.
        self.include_button = self._button("Ask to be &included…", "Record that the patient asks for their GP data "
                                           "to be extracted despite the practice-wide opt-out", self._include)
        self.include_withdraw_button = self._button("Withdraw the &request to be included…",
                                                    "Record that the patient withdraws their request to be included",
                                                    self._withdraw_include)
        self.edit_button = self._button("&Edit details…", "Correct the name, date of birth, address or NHS number",
                                        lambda: self.edit.emit(self.patient_id))
        self.back_button = self._button("&Back to front desk", "Back to the search (Esc)", self.back.emit)
        actions = QHBoxLayout()
        for b in (self.record_button, self.withdraw_button, self.include_button, self.include_withdraw_button,
                  self.edit_button, self.back_button):
            actions.addWidget(b)
        actions.addStretch(1)

        self.history = QTableWidget(0, len(self.HISTORY_COLUMNS))
        self.history.setHorizontalHeaderLabels(self.HISTORY_COLUMNS)
        self.history.setAccessibleName("History")
        self._table_defaults(self.history)
        # Long proxy details stay in the tooltip so the "coded" column is always in view.
        self.history.horizontalHeader().setSectionResizeMode(5, QHeaderView.ResizeMode.Interactive)
        self.history.setColumnWidth(5, 300)
        self.history.itemSelectionChanged.connect(self._update_buttons)
        self.coded_button = self._button("Mark &coded in the clinical system",
                                         "The selected event has been entered as a code in the clinical system",
                                         self._mark_coded)
        self.message = InlineMessage("Patient view message")
        history_box = QGroupBox("History")
        hl = QVBoxLayout(history_box)
        hl.addWidget(self.history)
        row = QHBoxLayout()
        row.addWidget(self.coded_button)
        row.addWidget(self.message, 1)
        row.addStretch(0)
        hl.addLayout(row)

        self.letters = QTableWidget(0, 4)
        self.letters.setHorizontalHeaderLabels(("Letter", "Queued", "Due by", "Sent"))
        self.letters.setAccessibleName("Letters")
        self._table_defaults(self.letters)
        self.letters_note = QLabel()
        self.letters_note.setWordWrap(True)
        self.letters_note.setAccessibleName("Letters note")
        letters_box = QGroupBox("Letters")
        ll = QVBoxLayout(letters_box)
        ll.addWidget(self.letters_note)
        ll.addWidget(self.letters)

        ndoo_box = QGroupBox("National Data Opt-out")
        nl = QVBoxLayout(ndoo_box)
        nl.setAlignment(Qt.AlignmentFlag.AlignTop)
        ndoo_text = QLabel(NDOO_SIGNPOST + " The practice cannot set it or record the patient's choice: only that they were told.")
        ndoo_text.setWordWrap(True)
        ndoo_text.setAccessibleName("National Data Opt-out signpost")
        self.signposted = QLabel()
        self.signposted.setAccessibleName("Signposted")
        self.signpost_button = self._button("&Signposted today", "Record that the patient was told how to set it today",
                                            self._signpost)
        # A Type 2 asked for (or coded) after the cut-off cannot be recorded: the patient gets
        # the letter saying so, with the same signposting.
        self.type2_letter_button = self._button(
            "Type &2 recorded in error…", "Queue the letter explaining that Type 2 objections made after "
            "11 October 2018 are not processed and how to set the National Data Opt-out instead",
            self._type2_in_error)
        nl.addWidget(ndoo_text)
        srow = QHBoxLayout()
        srow.addWidget(self.signpost_button)
        srow.addWidget(self.signposted, 1)
        nl.addLayout(srow)
        nl.addWidget(self.type2_letter_button, 0, Qt.AlignmentFlag.AlignLeft)

        body = QWidget()
        v = QVBoxLayout(body)
        v.addWidget(self.name)
        v.addWidget(self.details)
        v.addWidget(self.status_box)
        v.addLayout(actions)
        v.addWidget(history_box, 2)
        lower = QHBoxLayout()
        lower.addWidget(letters_box, 1)
        lower.addWidget(ndoo_box, 1)
        v.addLayout(lower, 1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(scroll)

        QShortcut(QKeySequence("Ctrl+R"), self, activated=lambda: self.patient_id and self.record.emit(self.patient_id))
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self.back.emit)
        bus.changed.connect(self._changed)
        bus.locked.connect(self.clear)
        self.clear()

    def _button(self, text: str, tip: str, slot) -> QPushButton:
        button = QPushButton(text)
        button.setAccessibleName(text.replace("&", "").rstrip("…"))
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    @staticmethod
    def _table_defaults(table: QTableWidget) -> None:
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.verticalHeader().hide()
        table.setTabKeyNavigation(False)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        table.setMinimumHeight(110)

    # ---- loading --------------------------------------------------------------------
    def show_patient(self, patient_id: int) -> bool:
        session = self._session()
        if session is None:
            return False
        try:
            with session.at_once():  # a task holding the register: say so now, never freeze the desk (H-56)
                rec = patients.view(session, patient_id)
                self.policy_on = exclusion_service.practice_optout_status(session).on
                # either engine: the server keeps the export record too (services/exclusion_server.py)
                self.awaits_export = exclusion_service.awaits_export(exclusion_service.export_status(session),
                                                                     rec.history)
        except StoreError as exc:
            self.clear()
            self.message.show_error(str(exc))
            return False
        self.patient_id, self.record_data = patient_id, rec
        self._fill(rec)
        return True

    def _fill(self, rec) -> None:
        p = rec.patient
        self.name.setText(p.display_name)
        address = ", ".join([*p.address, p.postcode])
        age = acting_for.age_on(p.dob, self._session().today()) if self._session() else None
        born = f"born {p.dob.day} {p.dob:%b %Y}" + (f" (age {age})" if age is not None else "")
        self.details.setText(f"NHS number {p.nhs_display}  ·  {born}  ·  {address}"
                             + (f"  ·  {p.phone}" if p.phone else "") + (f"  ·  {p.email}" if p.email else ""))
        for kind, label in self.status_labels.items():
            status = rec.statuses[kind]
            label.setText(status.describe())
            label.setStyleSheet("font-weight: bold;" if status.active else "")
            label.setVisible(kind != INCLUDE or status.event is not None)
        standing = gp_data_words(rec.statuses, practice_wide_on=self.policy_on)
        self.effect.setText(standing.words)
        self.effect.setStyleSheet("color: #8a4b00; font-weight: bold;" if standing.awaiting_code
                                  else "color: #333333;")
        self.pending.setText(standing.pending)
        self.pending.setVisible(bool(standing.pending))
        t1, t2 = rec.statuses[codes.TYPE1].active, rec.statuses[codes.TYPE2].active
        effect = extraction_effect(objects=t1, included=rec.statuses[INCLUDE].active, practice_wide_on=self.policy_on,
                                   has_nhs_number=p.nhs_number is not None, type2_only=t2 and not t1)
        stale = (" (Changed since the exclusion file was last written: the practice's own extracts see this when "
                 "the practice manager next writes it.)") if rec.history and self.awaits_export else ""
        self.local_effect.setText(effect.words + stale)
        self.local_effect.setStyleSheet("color: #a4000f; font-weight: bold;" if effect.warning else "color: #555555;")

        self.history.setRowCount(0)
        for e in sorted(rec.history, key=lambda e: (e.effective, e.seq or e.event_id or 0), reverse=True):
            r = self.history.rowCount()
            self.history.insertRow(r)
            coded = coding_words(e)
            acting, acting_detail = describe_proxy(e, rec.submitted_by)
            cells = (_day(e.effective), describe_event(e), _day(e.received), VIA_LABELS.get(e.via, e.via),
                     f"{e.recorded_by}, {_day(e.recorded_at)}", acting, coded)
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(acting_detail if c == 5 else text)
                item.setData(Qt.ItemDataRole.UserRole, e.event_id)
                item.setData(Qt.ItemDataRole.UserRole + 1, e.coding_state == PENDING)
                self.history.setItem(r, c, item)

        self.letters.setRowCount(0)
        for letter in rec.letters:
            r = self.letters.rowCount()
            self.letters.insertRow(r)
            kind = letter.get("prints_as", letter["kind"])
            label = LETTER_KINDS.get(kind, kind) + (" (waits for the code to be confirmed)" if letter.get("held") else "")
            cells = (label, _day(letter["queued_at"]), _day(letter["due"]),
                     _day(letter["sent_at"]) if letter["sent_at"] else "Not yet sent")
            for c, text in enumerate(cells):
                self.letters.setItem(r, c, QTableWidgetItem(text))

        # A dependant's confirmation goes to the adult who sent the form: say so, not an empty table.
        adults = sorted(set(rec.submitted_by.values()))
        if rec.letters:
            self.letters_note.setText("")
        elif adults:
            self.letters_note.setText(f"Confirmation letters for this patient go to {', '.join(adults)}, who sent the form.")
        else:
            self.letters_note.setText("No letters for this patient.")
        self.letters_note.setVisible(bool(self.letters_note.text()))
        self.letters.setVisible(bool(rec.letters))
        if rec.signposts:
            self.signposted.setText("Signposted on " + ", ".join(_day(d) for d in rec.signposts[-3:]))
        else:
            self.signposted.setText("Not signposted yet")
        self._update_buttons()

    def clear(self) -> None:
        """On lock or when leaving: nothing about the patient stays in the widgets."""
        self.patient_id, self.record_data = None, None
        self.policy_on = False
        self.name.clear()
        self.details.clear()
        for label in self.status_labels.values():
            label.clear()
        self.effect.clear()
        self.pending.clear()
        self.local_effect.clear()
        self.history.setRowCount(0)
        self.letters.setRowCount(0)
        self.letters_note.clear()
        self.signposted.clear()
        self.message.clear_message()
        self._update_buttons()

    def _changed(self, changes) -> None:
        if self.patient_id is None or not self.isVisible():
            return
        if self.patient_id in changes.patient_ids or "policy" in changes.areas:
            message = self.message.text()
            self.show_patient(self.patient_id)
            if message:
                self.message.show_ok(message)

    # ---- actions --------------------------------------------------------------------
    def _update_buttons(self) -> None:
        rec = self.record_data
        self.record_button.setEnabled(rec is not None)
        self.edit_button.setEnabled(rec is not None)
        self.withdraw_button.setEnabled(rec is not None and any(
            rec.statuses[k].active for k in (codes.TYPE1, codes.TYPE2)))
        self.signpost_button.setEnabled(rec is not None)
        self.type2_letter_button.setEnabled(rec is not None)
        including = rec is not None and rec.statuses[INCLUDE].active
        self.include_button.setVisible(rec is not None and self.policy_on and not including)
        self.include_withdraw_button.setVisible(including)
        for button in (self.include_button, self.include_withdraw_button):
            button.setEnabled(rec is not None)
        item = self.history.currentItem() if self.history.selectedItems() else None
        self.coded_button.setEnabled(bool(item and item.data(Qt.ItemDataRole.UserRole + 1)))

    def _withdraw(self) -> None:
        rec = self.record_data
        if rec is None:
            return
        active = [k for k in (codes.TYPE1, codes.TYPE2) if rec.statuses[k].active]
        kind = active[0]
        if len(active) > 1:
            answer = dialogs.ask(self, "Which objection?", "The patient has a Type 1 and a legacy Type 2 objection. "
                                 "Which one do they withdraw?", ("Type 1", "Type 2", "Cancel"), default="Type 1")
            if answer == "Cancel":
                return
            kind = codes.TYPE2 if answer == "Type 2" else codes.TYPE1
        self.withdraw.emit(self.patient_id, kind)

    def _include(self) -> None:
        self._include_action(include_me.ask_and_record)

    def _withdraw_include(self) -> None:
        self._include_action(include_me.ask_and_withdraw)

    def _include_action(self, action) -> None:
        session, rec = self._session(), self.record_data
        if session is None or rec is None:
            return
        self.message.clear_message()

        def done(result) -> None:
            if isinstance(result, Exception):
                self._update_buttons()
                if self.record_data is not None:
                    self.message.show_error(f"Not recorded: {describe_error(result)}")
            elif self.patient_id in result.patient_ids:
                self.message.show_ok(result.summary)

        for button in (self.include_button, self.include_withdraw_button):
            button.setEnabled(False)
        if not action(self, session, self._bus, self.patient_id, rec.patient.display_name, self.policy_on, done=done):
            self._update_buttons()

    def _mark_coded(self) -> None:
        item = self.history.currentItem()
        session = self._session()
        if item is None or session is None:
            return
        self._run(lambda: objections.mark_coded(session, item.data(Qt.ItemDataRole.UserRole)))

    def _signpost(self) -> None:
        session = self._session()
        if session is not None and self.patient_id is not None:
            self._run(lambda: objections.signpost_ndoo(session, self.patient_id))

    def _type2_in_error(self) -> None:
        session, rec = self._session(), self.record_data
        if session is None or rec is None:
            return
        if dialogs.ask(self, "Type 2 recorded in error",
                       f"Queue the letter telling {rec.patient.display_name} that a Type 2 objection made after "
                       "11 October 2018 is not processed, and how to set the National Data Opt-out instead? "
                       "It also records that they were signposted today.",
                       buttons=("Queue the letter", "Cancel"), default="Cancel", escape="Cancel") != "Queue the letter":
            return
        self._run(lambda: objections.type2_recorded_in_error(session, rec.patient.patient_id))

    def _run(self, operation) -> None:
        self.message.clear_message()
        try:
            changes = operation()
        except (StoreError, ValidationError) as exc:
            self.message.show_error(str(exc))
            return
        self.message.show_ok(changes.summary)
        self._bus.publish(changes)
