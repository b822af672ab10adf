"""The idle lock: an application-wide event filter restarts a timer on every input
event (KeePassXC's InactivityTimer); when it fires, the window locks."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication

INPUT_EVENTS = frozenset({
    QEvent.Type.KeyPress, QEvent.Type.KeyRelease, QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease,
    QEvent.Type.MouseButtonDblClick, QEvent.Type.MouseMove, QEvent.Type.Wheel, QEvent.Type.TouchBegin,
    QEvent.Type.TouchUpdate, QEvent.Type.TabletPress,
})


class IdleLock(QObject):
    idle = Signal()

    def __init__(self, app: QApplication, timeout_ms: int = 5 * 60_000, parent: QObject | None = None):
        super().__init__(parent)
        self._app = app
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(timeout_ms)
        self._timer.timeout.connect(self._fire)
        self._installed = False

    @property
    def timeout_ms(self) -> int:
        return self._timer.interval()

    def set_timeout_ms(self, ms: int) -> None:
        self._timer.setInterval(max(1, int(ms)))
        if self._timer.isActive():
            self._timer.start()

    def start(self) -> None:
        """Arm after an unlock."""
        if not self._installed:
            self._app.installEventFilter(self)
            self._installed = True
        self._timer.start()

    def stop(self) -> None:
        """Disarm while locked (the unlock screen needs no lock)."""
        if self._installed:
            self._app.removeEventFilter(self)
            self._installed = False
        self._timer.stop()

    def is_active(self) -> bool:
        return self._timer.isActive()

    def eventFilter(self, obj, event) -> bool:
        if event.type() in INPUT_EVENTS and self._timer.isActive():
            self._timer.start()  # restart: the clock runs from the last input
        return False

    def _fire(self) -> None:
        self.stop()
        self.idle.emit()
