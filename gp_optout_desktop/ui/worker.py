"""Run slow service calls (Argon2 unlock, demo generation) off the UI thread.

The result comes back on the UI thread through a queued signal, so the callback may
touch widgets. The register's connection is shared behind its own lock.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot


class _Relay(QObject):
    finished = Signal(object, object)  # result, error

    def __init__(self, on_done: Callable, on_error: Callable):
        super().__init__()
        self._on_done, self._on_error = on_done, on_error
        self.finished.connect(self._deliver)  # the relay lives on the UI thread: queued

    @Slot(object, object)
    def _deliver(self, result, error) -> None:
        _live.discard(self)
        if error is None:
            self._on_done(result)
        else:
            self._on_error(error)


class _Job(QRunnable):
    def __init__(self, fn: Callable, relay: _Relay):
        super().__init__()
        self._fn, self._relay = fn, relay

    def run(self) -> None:
        try:
            result = self._fn()
        except BaseException as exc:  # why: handed to the UI thread, which puts it into words
            self._relay.finished.emit(None, exc)
        else:
            self._relay.finished.emit(result, None)


_live: set[_Relay] = set()  # keeps each relay alive until its answer is delivered


def run(fn: Callable[[], object], on_done: Callable[[object], None], on_error: Callable[[BaseException], None]) -> None:
    relay = _Relay(on_done, on_error)
    _live.add(relay)
    QThreadPool.globalInstance().start(_Job(fn, relay))


def busy() -> bool:
    return bool(_live)


def wait(msecs: int = 30000) -> bool:
    return QThreadPool.globalInstance().waitForDone(msecs)
