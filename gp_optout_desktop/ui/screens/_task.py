"""Per-screen tracking of service calls run off the UI thread (through ui.worker).

Argon2 (adding a user), backups, verifying a long audit trail and rendering letters
take from half a second to minutes; the window keeps painting, and the screen knows it
is busy so its buttons are disabled until the answer comes back.
"""

from __future__ import annotations

from typing import Callable

from .. import worker


class TaskRunner:
    """``on_busy`` callbacks are plain Python, not a Qt signal: nothing here needs one.
    (PySide6 6.12.0 on CPython 3.11 dropped a reference to True per Python-side emit;
    the project pins 6.11.3, and tests/ui/test_qt_refcounts.py guards it.)"""

    def __init__(self):
        self._pending = 0
        self.on_busy: list[Callable[[bool], None]] = []

    def _tell(self, busy: bool) -> None:
        for callback in list(self.on_busy):
            callback(busy)

    @property
    def busy(self) -> bool:
        return self._pending > 0

    def run(self, fn: Callable[[], object], on_done: Callable[[object], None],
            on_error: Callable[[BaseException], None]) -> None:
        self._pending += 1
        if self._pending == 1:
            self._tell(True)

        def finish(callback, value):
            try:
                callback(value)
            finally:
                self._pending -= 1
                if self._pending == 0:
                    self._tell(False)

        worker.run(fn, lambda result: finish(on_done, result), lambda exc: finish(on_error, exc))
