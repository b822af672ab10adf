"""Overview (everyone): patients, objections in force by type, withdrawals, opt-ins,
letters due and overdue, and objections over time as a chart."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QVBoxLayout

from ...domain import codes
from ...domain.coding import uk_day
from ...services import overview as overview_service
from .base import Screen
from .chart import TimelineChart

TITLE = "Overview"


class Tile(QFrame):
    """One figure with its meaning underneath; read out as 'meaning: figure'."""

    def __init__(self, meaning: str, parent=None):
        super().__init__(parent)
        self.meaning = meaning
        self.setFrameShape(QFrame.StyledPanel)
        self.setFocusPolicy(Qt.TabFocus)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        self.figure = QLabel("–")
        font = self.figure.font()
        font.setPointSize(font.pointSize() + 10)
        font.setBold(True)
        self.figure.setFont(font)
        self.caption = QLabel(meaning)
        self.caption.setWordWrap(True)
        layout.addWidget(self.figure)
        layout.addWidget(self.caption)
        self.setAccessibleName(meaning)

    def set_value(self, value: int | None, note: str = "", warn: bool = False) -> None:
        self.set_text("–" if value is None else f"{value:,}", note, warn)
        if value is None:
            self.setAccessibleDescription("not known")

    def set_text(self, text: str, note: str = "", warn: bool = False) -> None:
        self.figure.setText(text)
        self.caption.setText(self.meaning + (f"\n{note}" if note else ""))
        self.figure.setStyleSheet("color: #a4000f;" if warn else "")
        self.setAccessibleDescription(f"{text}. {note}".strip())


class OverviewScreen(Screen):
    AREAS = frozenset({"patients", "letters", "policy", "coding"})

    def __init__(self, session_provider, bus, parent=None):
        super().__init__(session_provider, bus, TITLE, parent)
        # The practice-wide opt-out banner is the main window's, above every screen (this one included).
        grid = QGridLayout()
        self.tiles = {
            "patients": Tile("Patients in the register"),
            "type1": Tile("Type 1 objections in force (code confirmed in the clinical system)"),
            "type1_received": Tile("Type 1 objections received, not yet in force"),
            "type2": Tile("Legacy Type 2 objections in force"),
            "withdrawn": Tile("Objections withdrawn (no longer objecting)"),
            "included": Tile("Asked to be included (opt-ins)"),
            "pending": Tile("Confirmation letters to send"),
            "overdue": Tile("Letters past the one-month deadline"),
            "policy": Tile("Practice-wide opt-out"),
            "coding": Tile("Codes not yet confirmed in the clinical system"),
            "reconciled": Tile("Last reconciliation with the clinical system"),
        }
        for i, tile in enumerate(self.tiles.values()):
            grid.addWidget(tile, i // 4, i % 4)
        self.outer.addLayout(grid)
        chart_title = QLabel("<b>Objections over time</b> (by the date each took effect)")
        self.outer.addWidget(chart_title)
        self.chart = TimelineChart()
        self.outer.addWidget(self.chart, 1)
        self.add_status_line()
        self.load_when_shown()

    def refresh(self) -> None:
        self.call(overview_service.overview, self._show)

    def _show(self, o: overview_service.Overview) -> None:
        self.data = o
        t = self.tiles
        t["patients"].set_value(o.patients)
        unlisted = o.objecting_without_nhs
        t["type1"].set_value(o.type1_in_force,
                             f"{unlisted:,} objecting patient{'s have' if unlisted != 1 else ' has'} no NHS number, "
                             "so the exclusion file cannot list them: find them by name and add it (Edit details)"
                             if unlisted else "", warn=bool(unlisted))
        t["type1_received"].set_value(o.type1_received, _received_note(o))
        t["type2"].set_value(o.objecting[codes.TYPE2], "not accepted as new since 11 Oct 2018")
        t["withdrawn"].set_value(sum(o.withdrawn.values()))
        t["included"].set_value(o.included, "" if o.policy_on else "matter only while the practice-wide opt-out is on")
        held = (f"; {o.letters_held:,} confirmation{'s wait' if o.letters_held != 1 else ' waits'} for codes to be "
                "confirmed") if o.letters_held else ""
        t["pending"].set_value(o.letters_pending, f"{o.letters_due_soon} due within "
                                                  f"{overview_service.DUE_SOON_DAYS} days{held}")
        t["overdue"].set_value(o.letters_overdue, "send these first" if o.letters_overdue else "",
                               warn=o.letters_overdue > 0)
        t["policy"].set_text("ON" if o.policy_on else "Off",
                             f"since {o.policy.effective.day} {o.policy.effective:%b %Y}" if o.policy else "never used",
                             warn=o.policy_on)
        t["coding"].set_value(o.coding_pending, "received, not yet in force for national extractions: see Coding"
                              if o.coding_pending else "")
        r = o.reconciliation
        if r is None:
            t["reconciled"].set_text("Never", "nothing is proved coded until a reconciliation",
                                     warn=o.coding_pending > 0)
        else:
            note = (f"(a) {r.not_coded:,} not coded, (b) {r.not_in_register:,} not in the register, "
                    f"(c) {r.differ:,} differing")
            if r.overdue:
                note += ": (a) holds codes past the coding target"
            t["reconciled"].set_text(f"{uk_day(r.at):%d/%m/%Y}", note, warn=r.overdue)
        self.chart.set_periods(o.timeline)

    def clear(self) -> None:
        super().clear()
        for tile in self.tiles.values():
            tile.set_value(None)
        self.chart.set_periods([])


def _received_note(o: overview_service.Overview) -> str:
    """Who does what for the objections not yet in force (and withdrawals not yet confirmed)."""
    parts = []
    if o.type1_received:
        parts.append("national extractions still take their data until the practice manager codes them in the "
                     "clinical system and a reconciliation confirms it")
    if o.type1_marked:
        parts.append(f"{o.type1_marked:,} marked coded, not yet confirmed")
    if o.withdrawals_not_confirmed:
        parts.append(f"{o.withdrawals_not_confirmed:,} withdrawal{'s' if o.withdrawals_not_confirmed != 1 else ''} "
                     "not yet confirmed")
    return "; ".join(parts)


def create(session_provider, bus) -> OverviewScreen:
    return OverviewScreen(session_provider, bus)
