"""The idle lock: an application-wide event filter restarts a timer on every input
event (KeePassXC's InactivityTimer); when it fires, the window locks.

The filter is Python, so every event in the application (each paint, timer and key)
had to take the GIL to pass through it: while a task runs Python on a worker, each
wait for the GIL stalled the UI thread (ADR 0014). After an input event the filter
steps aside for a short while (a quarter of the timeout, at most two seconds) and
restarts the timer when it comes back, as if there had been input then: the lock comes
at most that much later than the timeout after the last input, never earlier.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication

INPUT_EVENTS = frozenset({
    QEvent.Type.KeyPress, QEvent.Type.KeyRelease, QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease,
    QEvent.Type.MouseButtonDblClick, QEvent.Type.MouseMove, QEvent.Type.Wheel, QEvent.Type.TouchBegin,
    QEvent.Type.TouchUpdate, QEvent.Type.TabletPress,
})


STEP_ASIDE_MAX_MS = 2000


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
        self._armed = False  # between start() and stop(): watching, or stepped aside for a while
        self._back = QTimer(self)
        self._back.setSingleShot(True)
        self._back.timeout.connect(self._come_back)
        self._back_ms()

    @property
    def timeout_ms(self) -> int:
        return self._timer.interval()

    def set_timeout_ms(self, ms: int) -> None:
        self._timer.setInterval(max(1, int(ms)))
        self._back_ms()
        if self._timer.isActive():
            self._timer.start()

    def _back_ms(self) -> None:
        self._back.setInterval(max(1, min(STEP_ASIDE_MAX_MS, self._timer.interval() // 4)))

    def _watch(self, on: bool) -> None:
        if on and not self._installed:
            self._app.installEventFilter(self)
        elif not on and self._installed:
            self._app.removeEventFilter(self)
        self._installed = on

    def start(self) -> None:
        """Arm after an unlock, stepped aside as after any input (the unlock was one): the
        screens are built in the next turns of the event loop, and every event of their
        building passing through this Python filter tripled their time on the UI thread
        (about 30 ms of CPU for the first screen, issue 13)."""
        self._armed = True
        self._watch(False)
        self._timer.start()
        self._back.start()

    def watching(self) -> bool:
        """Whether the filter is in place now (not stepped aside)."""
        return self._installed

    def stop(self) -> None:
        """Disarm while locked (the unlock screen needs no lock)."""
        self._armed = False
        self._back.stop()
        self._watch(False)
        self._timer.stop()

    def _come_back(self) -> None:
        if self._armed:
            self._timer.start()  # input may have come while not watching: count from now
            self._watch(True)

    def is_active(self) -> bool:
        return self._timer.isActive()

    def eventFilter(self, obj, event) -> bool:
        if event.type() in INPUT_EVENTS and self._timer.isActive():
            self._timer.start()  # restart: the clock runs from the last input
            self._watch(False)  # removing a filter from inside it is allowed: Qt copes
            self._back.start()
        return False

    def _fire(self) -> None:
        self.stop()
        self.idle.emit()
