"""A date typed in one field, one Tab to leave it (dd/mm/yyyy; 6/1/70 and 06011970 work too),
instead of QDateEdit's three sections. Parsing is domain.typed_date's."""

from __future__ import annotations

from datetime import date
from typing import Callable

from PySide6.QtCore import QDate
from PySide6.QtWidgets import QLineEdit

from ..domain.errors import ValidationError
from ..domain.typed_date import parse_typed_date
from ..domain.uk_time import uk_today


class DateField(QLineEdit):
    def __init__(self, name: str, today: Callable[[], date] = uk_today, parent=None):
        super().__init__(parent)
        self._today = today
        self._minimum: date | None = None
        self._maximum: date | None = None
        self.setAccessibleName(name)
        self.setPlaceholderText("dd/mm/yyyy")
        self.setToolTip("Type the date: 06/01/1970, 6/1/70 or 06011970")
        self.setMaxLength(10)

    def setDate(self, value: date | QDate) -> None:  # noqa: N802 - QDateEdit's name, so forms need not change
        if isinstance(value, QDate):
            value = date(value.year(), value.month(), value.day())
        self.setText(value.strftime("%d/%m/%Y"))

    def setMaximumDate(self, value: date | QDate) -> None:  # noqa: N802
        self._maximum = _py(value)

    def setMinimumDate(self, value: date | QDate) -> None:  # noqa: N802
        self._minimum = _py(value)

    def value(self, field: str) -> date:
        """The typed date, or a ValidationError for ``field`` saying what is wrong."""
        typed = parse_typed_date(self.text(), self._today(), field)
        if self._maximum and typed > self._maximum:
            raise ValidationError("The date cannot be in the future.", field)
        if self._minimum and typed < self._minimum:
            raise ValidationError(f"The date cannot be before {self._minimum:%d/%m/%Y}.", field)
        return typed

    def date(self) -> QDate:
        """As QDateEdit.date(): an invalid QDate when the text is not a date."""
        try:
            typed = parse_typed_date(self.text(), self._today())
        except ValidationError:
            return QDate()
        return QDate(typed.year, typed.month, typed.day)


def _py(value: date | QDate) -> date:
    return date(value.year(), value.month(), value.day()) if isinstance(value, QDate) else value
