"""Record an objection (or a withdrawal) on one form: Type 1 preselected, how it was
received, the dates, an optional proxy, and dependants covered by the same form.
Errors come back from the service with the field they concern and are shown beside it."""

from __future__ import annotations

from datetime import date
from typing import Callable

from PySide6.QtCore import QDate, QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QFormLayout, QGroupBox, QHBoxLayout,
                               QLabel, QLineEdit, QListWidget, QListWidgetItem, QPushButton, QRadioButton,
                               QScrollArea, QVBoxLayout, QWidget)

from ..domain import acting_for, codes, nhs_number
from ..domain.uk_time import uk_today
from ..domain.errors import ValidationError
from ..domain.events import HOW_RECEIVED, PROXY_ROLES, Proxy
from ..services import objections, patients
from ..store.errors import StoreError
from . import dialogs
from .bus import ChangeBus
from .date_field import DateField
from .widgets import FIELD_WIDTH, InlineMessage, field_with_message, heading

DEPENDANT_LIMIT = 20


def _qdate(d: date) -> QDate:
    return QDate(d.year, d.month, d.day)


def row_label(row, today: date | None = None) -> str:
    nhs = nhs_number.display(row.nhs_number) if row.nhs_number else "NHS number not known"
    age = f"age {acting_for.age_on(row.dob, today)}, " if today else ""
    return f"{row.name}  ·  {age}born {row.dob:%d/%m/%Y}  ·  {row.postcode}  ·  {nhs}"


class _NoSession:
    @staticmethod
    def today() -> date:
        return uk_today()


class RecordObjectionForm(QWidget):
    recorded = Signal(int, str)  # submitting patient id, the ChangeSet summary
    cancelled = Signal()

    def __init__(self, session_provider: Callable, bus: ChangeBus, parent=None):
        super().__init__(parent)
        self._session = session_provider
        self._bus = bus
        self.patient_id: int | None = None
        self.action = codes.REGISTER
        self.messages: dict[str, InlineMessage] = {}

        self.title = heading("Record an objection")
        self.who = QLabel()
        self.who.setAccessibleName("Patient")
        self.who.setWordWrap(True)

        # What
        self.type1 = QRadioButton("Type &1: GP data must not leave the practice except for direct care")
        self.type1.setAccessibleName("Type 1 objection")
        self.type2 = QRadioButton("Type 2 (legacy: not accepted when added after 11 Oct 2018)")
        self.type2.setAccessibleName("Type 2 objection (legacy)")
        self.type2.setToolTip("Type 2 was replaced by the National Data Opt-out; new ones are not processed.")
        self.types = QButtonGroup(self)
        self.types.addButton(self.type1)
        self.types.addButton(self.type2)
        self.type1.setChecked(True)
        type_box = QWidget()
        tl = QVBoxLayout(type_box)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.type1)
        tl.addWidget(self.type2)

        self.via = QComboBox()
        self.via.setAccessibleName("How received")
        for key, label in HOW_RECEIVED.items():
            self.via.addItem(label[0].upper() + label[1:], key)
        self.effective = self._date_edit("Effective date")
        self.received = self._date_edit("Date received")
        self.for_self = QCheckBox("The form is for the &patient themselves")
        self.for_self.setAccessibleName("For the patient themselves")
        self.for_self.setToolTip("Untick when a parent sends a form only for their children")
        self.for_self.setChecked(True)

        form = QFormLayout()
        form.addRow("Type", self._with_message("type", type_box, 560))
        form.addRow("&How received", self._with_message("via", self.via))
        form.addRow("&Effective date", self._with_message("effective", self.effective, 160))
        form.addRow("Date recei&ved", self._with_message("received", self.received, 160))
        form.addRow("", self._with_message("action", self.for_self, 560))

        # Proxy
        self.proxy_box = QGroupBox("Someone else is acting for the patient (pro&xy)")
        self.proxy_box.setCheckable(True)
        self.proxy_box.setChecked(False)
        self.proxy_box.setAccessibleName("Proxy acting for the patient")
        self.proxy_role = QComboBox()
        self.proxy_role.setAccessibleName("Proxy role")
        for key, label in PROXY_ROLES.items():
            self.proxy_role.addItem(label, key)
        self.proxy_name = QLineEdit()
        self.proxy_name.setAccessibleName("Proxy name")
        self.proxy_evidence = QLineEdit()
        self.proxy_evidence.setAccessibleName("Evidence seen")
        self.proxy_evidence.setPlaceholderText("e.g. OPG 'VALIDATED-OPG' stamp, access code, court order")
        self.proxy_verified = QLineEdit()
        self.proxy_verified.setAccessibleName("Evidence verified by")
        pf = QFormLayout(self.proxy_box)
        pf.addRow("R&ole", self._with_message("proxy_role", self.proxy_role))
        pf.addRow("Na&me", self._with_message("proxy_name", self.proxy_name))
        pf.addRow("Evidence seen", self._with_message("proxy_evidence", self.proxy_evidence))
        pf.addRow("Verified by", self._with_message("proxy_verified_by", self.proxy_verified))
        # A health-and-welfare LPA can be used only when the donor lacks capacity (the service refuses otherwise).
        self.proxy_lacks_capacity = QCheckBox("The patient lacks capacity to make this decision (needed for a "
                                              "health and welfare lasting power of attorney)")
        self.proxy_lacks_capacity.setAccessibleName("Patient lacks capacity")
        pf.addRow("", self.proxy_lacks_capacity)

        # Dependants
        self.dep_box = QGroupBox("Depe&ndants on the same form (children under 16)")
        self.dep_search = QLineEdit()
        self.dep_search.setAccessibleName("Find a dependant")
        self.dep_search.setPlaceholderText("Find a child (under 16): surname, NHS number or date of birth")
        self.dep_search.setMaximumWidth(FIELD_WIDTH + 200)
        self.dep_search.setToolTip("Type to find; Enter adds the only match; with several, Down arrow to choose, "
                                   "then Enter")
        self.dep_found = QListWidget()
        self.dep_found.setAccessibleName("Dependants found")
        self.dep_found.setMaximumHeight(110)
        self.dep_found.hide()
        self.dep_added = QListWidget()
        self.dep_added.setAccessibleName("Dependants added")
        self.dep_added.setMaximumHeight(90)
        self.dep_added.hide()
        self.dep_added_label = QLabel("Added to this form:")
        self.dep_added_label.hide()
        self.dep_added.setToolTip("Delete removes the selected dependant")
        self.dep_remove = QPushButton("Remove dependant")
        self.dep_remove.setAccessibleName("Remove dependant")
        self.dep_remove.setToolTip("Remove the selected dependant from the form (Delete)")
        self.dep_remove.clicked.connect(self._remove_dependant)
        self.dep_remove.hide()
        dl = QVBoxLayout(self.dep_box)
        dl.addWidget(self.dep_search)
        dl.addWidget(self.dep_found)
        dl.addWidget(self.dep_added_label)
        dl.addWidget(self.dep_added)
        dl.addWidget(self._with_message("dependants", self.dep_remove, 200))
        self._dep_timer = QTimer(self)
        self._dep_timer.setSingleShot(True)
        self._dep_timer.setInterval(150)
        self._dep_timer.timeout.connect(self._find_dependants)
        self.dep_search.textChanged.connect(lambda _t: self._dep_timer.start())
        self.dep_search.returnPressed.connect(self._add_first_dependant)
        self.dep_found.itemActivated.connect(self._add_dependant)
        self.dep_search.installEventFilter(self)
        self.dep_added.installEventFilter(self)

        self.general = InlineMessage("Form message")
        self.save_button = QPushButton("&Save")
        self.save_button.setAccessibleName("Save objection")
        self.save_button.setToolTip("Record it (Ctrl+S; Enter in a text field)")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self.save)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel objection")
        self.cancel_button.setToolTip("Back without saving (Esc)")
        self.cancel_button.clicked.connect(self.cancel)
        QShortcut(QKeySequence("Ctrl+S"), self, activated=self.save)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self.cancel)
        for edit in (self.proxy_name, self.proxy_evidence, self.proxy_verified):
            edit.returnPressed.connect(self.save)

        body = QWidget()
        v = QVBoxLayout(body)
        v.addWidget(self.title)
        v.addLayout(form)
        v.addWidget(self.proxy_box)
        v.addWidget(self.dep_box)
        v.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        # Save and Cancel stay in view below the scrolling form, even at 1366x768.
        row = QHBoxLayout()
        row.addWidget(self.save_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.general, 1)
        row.addStretch(0)
        row.setContentsMargins(8, 4, 8, 4)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        # The patient banner sits above the scrolling form: always in view, however long the form.
        self.who.setStyleSheet("background: #e8edee; padding: 6px; font-weight: bold;")
        lay.addWidget(self.who)
        lay.addWidget(scroll, 1)
        lay.addLayout(row)

        order = [self.type1, self.type2, self.via, self.effective, self.received, self.for_self, self.proxy_box,
                 self.proxy_role, self.proxy_name, self.proxy_evidence, self.proxy_verified, self.dep_search,
                 self.dep_found, self.dep_added, self.dep_remove, self.save_button, self.cancel_button]
        for a, b in zip(order, order[1:]):
            self.setTabOrder(a, b)
        bus.locked.connect(self.clear)

    def _date_edit(self, name: str) -> DateField:
        edit = DateField(name, lambda: (self._session() or _NoSession).today())
        edit.setMinimumDate(QDate(2000, 1, 1))
        return edit

    def _with_message(self, field: str, widget: QWidget, width: int = FIELD_WIDTH) -> QWidget:
        message = InlineMessage(f"{field.replace('_', ' ')} message")
        self.messages[field] = message
        return field_with_message(widget, message, width)

    # ---- lifecycle ------------------------------------------------------------------
    def start(self, patient_id: int, action: str = codes.REGISTER, kind: str = codes.TYPE1) -> bool:
        """Show a fresh form for this patient; False if the patient cannot be read."""
        session = self._session()
        if session is None:
            return False
        try:
            rows = patients.result_rows(session, [patient_id])
        except StoreError as exc:
            self.general.show_error(str(exc))
            return False
        if not rows:
            return False
        self.clear()
        self.patient_id, self.action = patient_id, action
        withdrawing = action == codes.WITHDRAW
        self.title.setText("Record a withdrawal" if withdrawing else "Record an objection")
        self.save_button.setText("&Save withdrawal" if withdrawing else "&Save objection")
        self.who.setText(row_label(rows[0], session.today()))  # the banner: who this form is for
        (self.type2 if kind == codes.TYPE2 else self.type1).setChecked(True)
        self.dep_box.setVisible(not withdrawing)
        self.for_self.setVisible(not withdrawing)
        today = session.today()
        for edit in (self.effective, self.received):
            edit.setMaximumDate(_qdate(today))
            edit.setDate(_qdate(today))
        self.proxy_verified.setText(session.user)
        self.type1.setFocus() if kind == codes.TYPE1 else self.type2.setFocus()
        return True

    def clear(self) -> None:
        self.patient_id = None
        self.who.clear()
        self.type1.setChecked(True)
        self.via.setCurrentIndex(0)
        self.for_self.setChecked(True)
        self.proxy_box.setChecked(False)
        self.proxy_role.setCurrentIndex(0)
        for edit in (self.proxy_name, self.proxy_evidence, self.proxy_verified, self.dep_search):
            edit.clear()
        self.dep_found.clear()
        self.dep_added.clear()
        self._sync_dependant_lists()
        self._clear_messages()

    def _clear_messages(self) -> None:
        for message in self.messages.values():
            message.clear_message()
        self.general.clear_message()

    def is_dirty(self) -> bool:
        return bool(self.proxy_box.isChecked() or self.dep_added.count() or self.type2.isChecked()
                    or self.via.currentIndex() or not self.for_self.isChecked())

    def cancel(self) -> None:
        if self.is_dirty():
            answer = dialogs.ask(self, "Discard this form?", "Nothing has been recorded yet. Discard the form?",
                                 ("Discard", "Keep editing"), default="Keep editing")
            if answer != "Discard":
                return
        self.clear()
        self.cancelled.emit()

    # ---- dependants -----------------------------------------------------------------
    def _find_dependants(self) -> None:
        self.dep_found.clear()
        self._sync_dependant_lists()
        session = self._session()
        text = self.dep_search.text()
        if session is None or not text.strip():
            return
        try:
            rows = patients.find(session, text, DEPENDANT_LIMIT)
        except (StoreError, ValidationError) as exc:  # why: said beside the dependants, as the front desk says it
            self.messages["dependants"].show_error(f"Could not search for a dependant: {exc}")
            return
        taken = {self.patient_id} | set(self.dependant_ids())
        today = session.today()
        for row in rows:
            if row.patient_id in taken:
                continue
            item = QListWidgetItem(row_label(row, today))
            item.setData(Qt.ItemDataRole.UserRole, row.patient_id)
            if acting_for.age_on(row.dob, today) >= acting_for.ADULT_AGE:
                # Shown so the user sees why they are not offered; never addable as a dependant.
                item.setText(f"{item.text()}  ·  {acting_for.ADULT_AGE} or over: cannot be a dependant")
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled & ~Qt.ItemFlag.ItemIsSelectable)
            self.dep_found.addItem(item)
        self._sync_dependant_lists()

    def _sync_dependant_lists(self) -> None:
        self.dep_found.setVisible(self.dep_found.count() > 0)
        has = self.dep_added.count() > 0
        for widget in (self.dep_added, self.dep_added_label, self.dep_remove):
            widget.setVisible(has)

    def _add_first_dependant(self) -> None:
        if self._dep_timer.isActive():
            self._find_dependants()
            self._dep_timer.stop()
        addable = [self.dep_found.item(i) for i in range(self.dep_found.count())
                   if self.dep_found.item(i).flags() & Qt.ItemFlag.ItemIsEnabled]
        if len(addable) == 1:
            self._add_dependant(addable[0])
        elif addable:  # several: the user picks, as at the front desk
            self.dep_found.setFocus()
        elif self.dep_found.count():
            self.messages["dependants"].show_error("Nobody aged 16 or over can be added as a dependant.")

    def _add_dependant(self, item: QListWidgetItem) -> None:
        if not item.flags() & Qt.ItemFlag.ItemIsEnabled:
            return
        copy = QListWidgetItem(item.text())
        copy.setData(Qt.ItemDataRole.UserRole, item.data(Qt.ItemDataRole.UserRole))
        self.dep_added.addItem(copy)
        self.dep_search.clear()
        self.dep_found.clear()
        self._sync_dependant_lists()
        self.messages["dependants"].clear_message()
        self.dep_search.setFocus()

    def _remove_dependant(self) -> None:
        row = self.dep_added.currentRow()
        if row >= 0:
            self.dep_added.takeItem(row)
        self._sync_dependant_lists()

    def dependant_ids(self) -> list[int]:
        return [self.dep_added.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.dep_added.count())]

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Type.KeyPress:
            if obj is self.dep_search and event.key() == Qt.Key.Key_Down and self.dep_found.count():
                self.dep_found.setFocus()
                if self.dep_found.currentRow() < 0:
                    enabled = [i for i in range(self.dep_found.count())
                               if self.dep_found.item(i).flags() & Qt.ItemFlag.ItemIsEnabled]
                    if enabled:
                        self.dep_found.setCurrentRow(enabled[0])  # Down is a choice: the first child
                return True
            if obj is self.dep_added and event.key() == Qt.Key.Key_Delete:
                self._remove_dependant()
                return True
        return super().eventFilter(obj, event)

    # ---- saving ---------------------------------------------------------------------
    def kind(self) -> str:
        return codes.TYPE2 if self.type2.isChecked() else codes.TYPE1

    def proxy(self) -> Proxy | None:
        if not self.proxy_box.isChecked():
            return None
        return Proxy(self.proxy_role.currentData(), self.proxy_name.text().strip(),
                     self.proxy_evidence.text().strip(), self.proxy_verified.text().strip())

    def save(self) -> None:
        session = self._session()
        if session is None or self.patient_id is None:
            return
        self._clear_messages()
        if self.action == codes.WITHDRAW:
            answer = dialogs.ask(
                self, "Withdraw the objection?",
                f"Withdraw the {codes.SHORT_LABELS[self.kind()]} objection for {self.who.text().split('  ·')[0]}? "
                "Once the withdrawal code is confirmed in the clinical system, their GP data may be extracted again.",
                ("Withdraw", "Cancel"), default="Cancel")
            if answer != "Withdraw":
                return
        dependants = self.dependant_ids() if self.action == codes.REGISTER else []
        for_self = self.for_self.isChecked() or self.action == codes.WITHDRAW
        try:
            # What the form itself can check comes first, so nobody confirms a form that is refused.
            proxy = self.proxy()
            effective, received = self.effective.value("effective"), self.received.value("received")
            with session.at_once():  # a task holding the register: say so now, never freeze the desk (H-56)
                people = objections.people_on_form(session, self.patient_id, dependants, for_self)
            elsewhere = any(other for _line, other in people)
            if self.action == codes.REGISTER:
                # Read back who it is for before anything is saved: the wrong-patient check.
                what = "request to be included" if self.kind() == "include" else \
                    f"{codes.SHORT_LABELS[self.kind()]} objection"
                text = (f"Record a {what} for {'this person' if len(people) == 1 else f'these {len(people)} people'}?"
                        "\n\n" + "\n".join(f"• {line}" for line, _ in people))
                if elsewhere:
                    text += "\n\nSomeone lives at a different address: check the adult has parental responsibility."
                if dialogs.ask(self, "Check who it is for", text, ("&Record", "&Go back"),
                               default="Go back" if elsewhere else "Record") != "Record":
                    return
            with session.at_once():
                changes = objections.record(
                    session, self.patient_id, self.kind(), self.action,
                    effective=effective, received=received,
                    via=self.via.currentData(), proxy=proxy, dependants=dependants, for_self=for_self,
                    confirm_other_address=elsewhere,
                    donor_lacks_capacity=self.proxy_box.isChecked() and self.proxy_lacks_capacity.isChecked())
        except ValidationError as exc:
            self._show_error(exc.field, str(exc))
            return
        except StoreError as exc:
            self.general.show_error(str(exc))
            return
        self._bus.publish(changes)
        patient_id = self.patient_id
        self.clear()
        self.recorded.emit(patient_id, " ".join((changes.summary, *changes.warnings)))

    def _show_error(self, field: str | None, text: str) -> None:
        message = self.messages.get(field or "")
        (message or self.general).show_error(text)
        focus = {"type": self.type2 if self.type2.isChecked() else self.type1, "via": self.via,
                 "effective": self.effective, "received": self.received, "proxy_name": self.proxy_name,
                 "proxy_evidence": self.proxy_evidence, "proxy_verified_by": self.proxy_verified,
                 "dependants": self.dep_search}.get(field or "")
        if focus is not None:
            focus.setFocus()
