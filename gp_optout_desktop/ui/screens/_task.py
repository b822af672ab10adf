"""Per-screen tracking of service calls run off the UI thread (through ui.worker).

Argon2 (adding a user), backups, verifying a long audit trail and rendering letters
take from half a second to minutes; the window keeps painting, and the screen knows it
is busy so its buttons are disabled until the answer comes back.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, Signal

from .. import worker


class TaskRunner(QObject):
    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._pending = 0

    @property
    def busy(self) -> bool:
        return self._pending > 0

    def run(self, fn: Callable[[], object], on_done: Callable[[object], None],
            on_error: Callable[[BaseException], None]) -> None:
        self._pending += 1
        if self._pending == 1:
            self.busy_changed.emit(True)

        def finish(callback, value):
            try:
                callback(value)
            finally:
                self._pending -= 1
                if self._pending == 0:
                    self.busy_changed.emit(False)

        worker.run(fn, lambda result: finish(on_done, result), lambda exc: finish(on_error, exc))
