"""A reconciliation's findings as a table, not coded (a) first and in red. Tested without widgets."""

from __future__ import annotations

from PySide6.QtGui import QColor

from ...domain.codes import SHORT_LABELS
from .item_table import ItemTableModel

HEADERS = ("Group", "Why", "NHS number", "Patient", "Date of birth", "Type", "Register", "Clinical system", "Rows")
GROUP_WORDS = {"a": "(a) NOT CODED", "b": "(b) Not in the register", "c": "(c) Differs", "d": "(d) Agrees"}
NOT_CODED = QColor("#f8d7da")
DIFFERS = QColor("#fff3cd")


class ReconcileModel(ItemTableModel):  # items: services.reconcile.Item
    HEADERS = HEADERS

    def texts(self, row: int) -> tuple[str, ...]:
        i = self._items[row]
        n = i.nhs
        return (
            GROUP_WORDS[i.category], i.reason, f"{n[:3]} {n[3:6]} {n[6:]}" if n else "not known",
            f"{i.forenames} {i.surname}", i.dob.strftime("%d/%m/%Y") if i.dob else "", SHORT_LABELS[i.kind],
            i.register or "not in the register", i.clinical or "no code", " ".join(map(str, i.rows)),
        )

    def background(self, row: int):
        category = self._items[row].category
        return NOT_CODED if category == "a" else DIFFERS if category == "c" else None
