"""Objections over time, drawn with QPainter (QtCharts is not in PySide6-Essentials).

Bars: new objections and withdrawals per period (left axis). Line: objections in force
at the end of each period (right axis). The same figures are given in words as the
widget's accessible description, for screen readers and for anyone who would rather read.
"""

from __future__ import annotations

import math
from typing import Sequence

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from ...services.overview import Period

OBJECTION_COLOUR = QColor("#1f5aa6")  # blue and orange: told apart with the common colour blindnesses
WITHDRAWAL_COLOUR = QColor("#e07b00")
TOTAL_COLOUR = QColor("#202020")
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 44.0, 52.0, 30.0, 34.0


def nice_max(value: int) -> int:
    """The axis top: 1, 2 or 5 times a power of ten, at least ``value``."""
    if value <= 0:
        return 1
    power = 10 ** int(math.floor(math.log10(value)))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def tick_count(top: int) -> int:
    """Gridlines at whole numbers: 50 -> 5 steps of 10, 20 -> 4 of 5, 2 -> 2 of 1."""
    for steps in (5, 4, 2):
        if top % steps == 0 and top >= steps:
            return steps
    return 1


def plot_area(width: float, height: float) -> QRectF:
    return QRectF(MARGIN_LEFT, MARGIN_TOP, max(1.0, width - MARGIN_LEFT - MARGIN_RIGHT),
                  max(1.0, height - MARGIN_TOP - MARGIN_BOTTOM))


def bar_rects(periods: Sequence[Period], area: QRectF) -> list[tuple[QRectF, QRectF]]:
    """For each period, the objection bar and the withdrawal bar, side by side."""
    if not periods:
        return []
    top = nice_max(max(max(p.objections, p.withdrawals) for p in periods))
    slot = area.width() / len(periods)
    bar = max(1.0, slot * 0.36)
    out = []
    for i, p in enumerate(periods):
        x = area.left() + i * slot + slot * 0.14
        h_obj = area.height() * p.objections / top
        h_wd = area.height() * p.withdrawals / top
        out.append((QRectF(x, area.bottom() - h_obj, bar, h_obj), QRectF(x + bar, area.bottom() - h_wd, bar, h_wd)))
    return out


def describe(periods: Sequence[Period]) -> str:
    if not periods:
        return "No objections have been recorded yet."
    parts = [f"{p.label}: {p.objections} new, {p.withdrawals} withdrawn, {p.objecting_at_end} in force"
             for p in periods]
    return "Objections over time. " + "; ".join(parts) + "."


class TimelineChart(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._periods: list[Period] = []
        self.setAccessibleName("Objections over time (chart)")
        self.setMinimumHeight(200)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setFocusPolicy(Qt.TabFocus)  # so a screen reader can reach its description

    def sizeHint(self) -> QSize:
        return QSize(640, 260)

    @property
    def periods(self) -> list[Period]:
        return list(self._periods)

    def set_periods(self, periods: Sequence[Period]) -> None:
        self._periods = list(periods)
        text = describe(self._periods)
        self.setAccessibleDescription(text)
        self.setToolTip(text if len(text) < 600 else text[:600] + "…")
        self.update()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        p.fillRect(self.rect(), self.palette().base())
        area = plot_area(self.width(), self.height())
        fm = p.fontMetrics()
        text_pen = QPen(self.palette().text().color())
        if not self._periods:
            p.setPen(text_pen)
            p.drawText(self.rect(), Qt.AlignCenter, "No objections recorded yet.")
            return
        left_top = nice_max(max(max(x.objections, x.withdrawals) for x in self._periods))
        right_top = nice_max(max(max(x.objecting_at_end for x in self._periods), 0))
        # Grid at the left scale's whole steps; the right scale is labelled at the same heights
        # only where its figure is whole too (both tops are 1, 2 or 5 times a power of ten).
        steps = tick_count(left_top)
        for i in range(steps + 1):
            y = area.bottom() - area.height() * i / steps
            p.setPen(QPen(QColor("#d8d8d8"), 1))
            p.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
            p.setPen(text_pen)
            p.drawText(QRectF(0, y - 8, MARGIN_LEFT - 6, 16), Qt.AlignRight | Qt.AlignVCenter,
                       f"{left_top * i // steps}")
            if (right_top * i) % steps == 0:
                p.drawText(QRectF(area.right() + 6, y - 8, MARGIN_RIGHT - 6, 16), Qt.AlignLeft | Qt.AlignVCenter,
                           f"{right_top * i // steps}")
        for obj, wd in bar_rects(self._periods, area):
            p.fillRect(obj, OBJECTION_COLOUR)
            p.fillRect(wd, WITHDRAWAL_COLOUR)
        # Running total (right axis).
        slot = area.width() / len(self._periods)
        path = QPainterPath()
        points = [QPointF(area.left() + (i + 0.5) * slot, area.bottom() - area.height() * x.objecting_at_end / right_top)
                  for i, x in enumerate(self._periods)]
        path.moveTo(points[0])
        for pt in points[1:]:
            path.lineTo(pt)
        p.setPen(QPen(TOTAL_COLOUR, 2))
        p.drawPath(path)
        p.setBrush(TOTAL_COLOUR)
        for pt in points:
            p.drawEllipse(pt, 2.5, 2.5)
        # Period labels, thinned so they never overlap.
        widest = max(fm.horizontalAdvance(x.label) for x in self._periods) + 8
        every = max(1, math.ceil(widest / slot))
        p.setPen(text_pen)
        for i, x in enumerate(self._periods):
            if i % every == 0:
                p.drawText(QRectF(area.left() + i * slot - widest / 2 + slot / 2, area.bottom() + 4, widest, 18),
                           Qt.AlignHCenter | Qt.AlignTop, x.label)
        self._legend(p, text_pen)

    def _legend(self, p: QPainter, text_pen: QPen) -> None:
        x = MARGIN_LEFT
        for colour, label, is_line in ((OBJECTION_COLOUR, "New objections", False),
                                       (WITHDRAWAL_COLOUR, "Withdrawals", False),
                                       (TOTAL_COLOUR, "Objections in force (right scale)", True)):
            if is_line:
                p.setPen(QPen(colour, 2))
                p.drawLine(QPointF(x, 14), QPointF(x + 14, 14))
            else:
                p.fillRect(QRectF(x, 8, 12, 12), colour)
            p.setPen(text_pen)
            width = p.fontMetrics().horizontalAdvance(label)
            p.drawText(QRectF(x + 18, 4, width + 4, 20), Qt.AlignLeft | Qt.AlignVCenter, label)
            x += 18 + width + 20
