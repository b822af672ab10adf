"""Run slow service calls (Argon2 unlock, demo generation) off the UI thread.

The result comes back on the UI thread through a queued signal, so the callback may
touch widgets. The register's connection is shared behind its own lock.
"""

from __future__ import annotations

import threading
from typing import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from . import responsive


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
        responsive.lower_this_thread()
        try:
            with responsive.task_running():
                result = self._fn()
        except BaseException as exc:  # why: handed to the UI thread, which puts it into words
            self._relay.finished.emit(None, exc)
        else:
            self._relay.finished.emit(result, None)


_live: set[_Relay] = set()  # keeps each relay alive until its answer is delivered


def run(fn: Callable[[], object], on_done: Callable[[object], None], on_error: Callable[[BaseException], None]) -> None:
    relay = _Relay(responsive.when_answered(on_done), responsive.when_answered(on_error))
    _live.add(relay)
    QThreadPool.globalInstance().start(_Job(fn, relay))


class Lane:
    """A thread of its own for one kind of quick, repeated read (the desk's search as you
    type): it never queues behind a backup or a letter run in the shared pool, and only
    the newest request counts: one not yet started is replaced by a newer one, and the
    answer to an older one is never delivered. A plain Python thread with one slot (not a
    QThreadPool: nothing is ever deleted under Qt's feet)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._next: tuple | None = None  # (ticket, fn, relay) waiting to start
        self._running = False
        self._thread: threading.Thread | None = None
        self._newest = 0
        self._relays: dict[int, _Relay] = {}  # ticket -> relay, kept alive until it answers (UI thread only)

    def submit(self, fn: Callable[[], object], on_done: Callable[[object], None],
               on_error: Callable[[BaseException], None]) -> None:
        self._newest += 1
        ticket = self._newest

        def answer(callback):
            def deliver(value):
                self._relays.pop(ticket, None)
                if ticket == self._newest:
                    callback(value)
            return deliver

        relay = _Relay(answer(on_done), answer(on_error))
        _live.discard(relay)  # kept here, not in the shared pool's set: worker.busy() is about tasks
        self._relays[ticket] = relay
        with self._cond:
            if self._next is not None:  # replaced before it started: it will never answer
                self._relays.pop(self._next[0], None)
            self._next = (ticket, fn, relay)
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="desk-search", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _serve(self) -> None:
        while True:
            with self._cond:
                while self._next is None:
                    self._cond.wait()
                _ticket, fn, relay = self._next
                self._next, self._running = None, True
            try:
                result = fn()
            except BaseException as exc:  # why: handed to the UI thread, which puts it into words
                relay.finished.emit(None, exc)
            else:
                relay.finished.emit(result, None)
            finally:
                with self._cond:
                    self._running = False
                    self._cond.notify_all()

    def forget(self) -> None:
        """Answers still on their way are not delivered (e.g. after a lock)."""
        self._newest += 1

    @property
    def pending(self) -> bool:
        return bool(self._relays)

    def wait(self, msecs: int = 30000) -> bool:
        """Until nothing is waiting or running (tests; the answer itself comes as an event)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._next is None and not self._running, msecs / 1000)


def busy() -> bool:
    return bool(_live)


def wait(msecs: int = 30000) -> bool:
    return QThreadPool.globalInstance().waitForDone(msecs)
