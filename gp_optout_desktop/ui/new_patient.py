"""The new-patient form, also used to correct a patient's details: NHS number and postcode
are checked as they are typed and the reason for a refusal is shown beside the field.
Saving goes through services.patients.add (or .edit)."""

from __future__ import annotations

from datetime import date
from typing import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QFormLayout, QHBoxLayout, QLineEdit, QPushButton, QScrollArea, QVBoxLayout,
                               QWidget)

from ..domain import nhs_number, postcode
from ..domain.errors import ValidationError, ValidationProblems
from ..domain.patient import validate_patient
from ..domain.typed_date import parse_typed_date
from ..domain.uk_time import uk_today
from ..services import patients
from ..store.errors import Conflict, StoreError
from . import dialogs
from .bus import ChangeBus
from .widgets import InlineMessage, field_with_message, heading

def parse_date(text: str) -> date:
    return parse_typed_date(text, uk_today(), "dob")


def prefill_from_query(text: str) -> dict[str, str]:
    """What a front-desk search that found nobody tells us about the new patient."""
    raw = (text or "").strip()
    if not raw:
        return {}
    digits = nhs_number.normalise(raw)
    if digits.isdigit() and len(digits) == 10:
        return {"nhs": nhs_number.display(digits)}
    try:
        return {"dob": parse_date(raw).strftime("%d/%m/%Y")}
    except ValidationError:
        pass  # why: not a date; try it as a postcode below
    if any(ch.isdigit() for ch in raw):
        try:
            return {"postcode": postcode.validate(raw).value}
        except ValidationError:
            return {}
    surname, _, forenames = raw.partition(",")
    out = {"surname": surname.strip()}
    if forenames.strip():
        out["forenames"] = forenames.strip()
    return out


class NewPatientForm(QWidget):
    added = Signal(int, str)  # patient id, what was done (plain words)
    edited = Signal(int, str)
    cancelled = Signal()

    FIELDS = ("nhs_number", "title", "surname", "forenames", "dob", "address1", "address2", "address3",
              "postcode", "phone", "email")
    LABELS = {"nhs_number": "&NHS number", "title": "&Title", "surname": "&Surname", "forenames": "&Forename(s)",
              "dob": "&Date of birth", "address1": "&Address", "address2": "", "address3": "",
              "postcode": "&Postcode", "phone": "P&hone", "email": "&Email"}
    ACCESSIBLE = {"nhs_number": "NHS number", "title": "Title", "surname": "Surname", "forenames": "Forenames",
                  "dob": "Date of birth", "address1": "Address line 1", "address2": "Address line 2",
                  "address3": "Address line 3", "postcode": "Postcode", "phone": "Phone", "email": "Email"}

    def __init__(self, session_provider: Callable, bus: ChangeBus, parent=None):
        super().__init__(parent)
        self._session = session_provider
        self._bus = bus
        self.editing: int | None = None  # the patient whose details are being corrected
        self.edits: dict[str, QLineEdit] = {}
        self.messages: dict[str, InlineMessage] = {}
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for name in self.FIELDS:
            edit = QLineEdit()
            edit.setAccessibleName(self.ACCESSIBLE[name])
            message = InlineMessage(f"{self.ACCESSIBLE[name]} message")
            self.edits[name], self.messages[name] = edit, message
            form.addRow(self.LABELS[name], field_with_message(edit, message))
            edit.returnPressed.connect(self.save)
        self.edits["nhs_number"].setPlaceholderText("10 digits, spaces allowed; leave empty if not known")
        self.edits["dob"].setPlaceholderText("dd/mm/yyyy")
        self.edits["postcode"].setPlaceholderText("e.g. LS1 4AP")
        self.edits["nhs_number"].textChanged.connect(self._check_nhs)
        self.edits["postcode"].textChanged.connect(self._check_postcode)
        self.edits["dob"].textChanged.connect(self._check_dob)

        self.general = InlineMessage("Form message")
        self.save_button = QPushButton("&Save patient")
        self.save_button.setAccessibleName("Save patient")
        self.save_button.setToolTip("Add this patient to the register (Enter or Ctrl+S)")
        self.save_button.clicked.connect(self.save)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel new patient")
        self.cancel_button.setToolTip("Back to the front desk without saving (Esc)")
        self.cancel_button.clicked.connect(self.cancel)
        QShortcut(QKeySequence("Ctrl+S"), self, activated=self.save)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self.cancel)
        self._started_with: dict[str, str] = {}

        body = QWidget()
        v = QVBoxLayout(body)
        self.title = heading("New patient")
        v.addWidget(self.title)
        v.addLayout(form)
        v.addWidget(self.general)
        row = QHBoxLayout()
        row.addWidget(self.save_button)
        row.addWidget(self.cancel_button)
        row.addStretch(1)
        v.addLayout(row)
        v.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(scroll)
        order = [self.edits[n] for n in self.FIELDS] + [self.save_button, self.cancel_button]
        for a, b in zip(order, order[1:]):
            self.setTabOrder(a, b)
        bus.locked.connect(self.clear)

    # ---- as typed -------------------------------------------------------------------
    def _check_nhs(self, text: str) -> None:
        msg = self.messages["nhs_number"]
        digits = nhs_number.normalise(text)
        if not digits:
            msg.clear_message()
        elif digits.isdigit() and len(digits) < 10:
            msg.show_warning(f"{len(digits)} of 10 digits")
        else:
            try:
                nhs_number.validate(text)
            except ValidationError as exc:
                msg.show_error(str(exc))
            else:
                msg.show_ok("Valid NHS number")

    def _check_postcode(self, text: str) -> None:
        msg = self.messages["postcode"]
        if not text.strip():
            msg.clear_message()
            return
        try:
            result = postcode.validate(text)
        except ValidationError as exc:
            # Half-typed postcodes are normal: only say why once it has its full length.
            if len("".join(text.split())) < 5:
                msg.show_warning("Keep typing: a postcode has 5 to 7 letters and digits.")
            else:
                msg.show_error(str(exc))
        else:
            if result.warning:
                msg.show_warning(result.warning)
            else:
                msg.show_ok(f"Valid postcode format ({result.value})")

    def _check_dob(self, text: str) -> None:
        msg = self.messages["dob"]
        if len(text.strip()) < 8:
            msg.clear_message()
            return
        try:
            parse_date(text)
        except ValidationError as exc:
            msg.show_error(str(exc))
        else:
            msg.clear_message()

    # ---- lifecycle ------------------------------------------------------------------
    def start(self, query: str = "") -> None:
        self.clear()
        self._set_mode(None)
        for name, value in prefill_from_query(query).items():
            self.edits["nhs_number" if name == "nhs" else name].setText(value)
        self._started_with = self._values()
        first_empty = next((n for n in ("nhs_number", "title", "surname", "forenames", "dob")
                            if not self.edits[n].text()), "nhs_number")
        self.edits[first_empty].setFocus()

    def start_edit(self, patient) -> None:
        """Correct a patient's details, e.g. add the NHS number that was not known."""
        self.clear()
        self._set_mode(patient.patient_id)
        # Three lines on the form: any further lines (added from the command line) join the third.
        lines = [*patient.address[:2], ", ".join(patient.address[2:])] + ["", "", ""]
        values = {"nhs_number": nhs_number.display(patient.nhs_number) if patient.nhs_number else "",
                  "title": patient.title, "surname": patient.surname, "forenames": patient.forenames,
                  "dob": patient.dob.strftime("%d/%m/%Y"), "address1": lines[0], "address2": lines[1],
                  "address3": lines[2], "postcode": patient.postcode, "phone": patient.phone, "email": patient.email}
        for name, value in values.items():
            self.edits[name].setText(value)
        self._started_with = self._values()
        target = self.edits["nhs_number"] if not patient.nhs_number else self.edits["surname"]
        target.setFocus()

    def _set_mode(self, patient_id: int | None) -> None:
        self.editing = patient_id
        self.title.setText("Correct the patient's details" if patient_id else "New patient")
        self.save_button.setText("&Save changes" if patient_id else "&Save patient")
        self.save_button.setAccessibleName("Save changes" if patient_id else "Save patient")
        self.save_button.setToolTip("Save the corrected details (Enter or Ctrl+S)" if patient_id
                                    else "Add this patient to the register (Enter or Ctrl+S)")
        self.cancel_button.setToolTip(("Back to the patient" if patient_id else "Back to the front desk")
                                      + " without saving (Esc)")

    def _values(self) -> dict[str, str]:
        return {name: edit.text() for name, edit in self.edits.items()}

    def is_dirty(self) -> bool:
        return self._values() != self._started_with

    def cancel(self) -> None:
        """Esc or Cancel: a form the user has typed into is not thrown away without asking."""
        if self.is_dirty():
            answer = dialogs.ask(self, "Discard this form?", "The patient has not been saved. Discard what you typed?",
                                 ("&Discard", "&Keep editing"), default="&Keep editing")
            if answer != "Discard":
                return
        self.clear()
        self.cancelled.emit()

    def clear(self) -> None:
        for edit in self.edits.values():
            edit.clear()
        for message in self.messages.values():
            message.clear_message()
        self.general.clear_message()
        self._started_with = self._values()

    def save(self) -> None:
        for name, message in self.messages.items():
            message.clear_message()
        # The as-typed checks put back what they know about these fields.
        self._check_nhs(self.edits["nhs_number"].text())
        self._check_postcode(self.edits["postcode"].text())
        self._check_dob(self.edits["dob"].text())
        self.general.clear_message()
        session = self._session()
        if session is None:
            return
        e = {k: v.text() for k, v in self.edits.items()}
        fields = dict(surname=e["surname"], forenames=e["forenames"], postcode_raw=e["postcode"],
                      nhs=e["nhs_number"] or None, title=e["title"],
                      address=[e["address1"], e["address2"], e["address3"]], phone=e["phone"], email=e["email"])
        try:
            dob = parse_date(e["dob"]) if e["dob"].strip() else None
        except ValidationError as exc:
            dob, dob_problem = None, str(exc)
        else:
            dob_problem = None if dob else "Enter the date of birth (dd/mm/yyyy)."
        try:
            if dob_problem:
                # Still check every other field, so the user sees all that is wrong at once.
                try:
                    validate_patient(dob=session.today(), today=session.today(), **fields)
                except ValidationProblems as exc:
                    raise ValidationProblems({"dob": dob_problem, **exc.problems}) from None
                raise ValidationProblems({"dob": dob_problem})
            editing = self.editing
            changes = (patients.edit(session, editing, dob=dob, **fields) if editing
                       else patients.add(session, dob=dob, **fields))
        except ValidationProblems as exc:
            self._show_all(exc.problems)
            return
        except ValidationError as exc:
            self._show_error(exc.field, str(exc))
            return
        except Conflict as exc:
            self._show_error("nhs_number", str(exc))
            return
        except StoreError as exc:
            self.general.show_error(str(exc))
            return
        self._bus.publish(changes)
        summary = changes.summary + "".join(f" {w}" for w in changes.warnings)
        patient_id = changes.data["patient_id"]
        self.clear()
        (self.edited if editing else self.added).emit(patient_id, summary)

    def _show_all(self, problems: dict[str, str]) -> None:
        """Every problem beside its field; focus on the first in the form's order."""
        order = {name: i for i, name in enumerate(self.FIELDS)}
        targets = sorted(((self._target(f), text) for f, text in problems.items()),
                         key=lambda item: order.get(item[0], len(order)))
        for target, text in reversed(targets):  # the first one shown last keeps the focus
            self._show_error(target, text)

    @staticmethod
    def _target(field: str) -> str:
        return {"postcode_raw": "postcode", "nhs": "nhs_number"}.get(field, field)

    def _show_error(self, field: str | None, text: str) -> None:
        target = self._target(field or "")
        if target in self.messages:
            self.messages[target].show_error(text)
            self.edits[target].setFocus()
            self.edits[target].selectAll()
        else:
            self.general.show_error(text)
