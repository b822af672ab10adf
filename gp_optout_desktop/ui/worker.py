"""Run slow service calls (Argon2 unlock, demo generation) off the UI thread.

The result comes back on the UI thread through a queued signal, so the callback may
touch widgets. The register's connection is shared behind its own lock.
"""

from __future__ import annotations

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
        try:
            with responsive.task_running():
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


class Lane:
    """A thread of its own for one kind of quick, repeated read (the desk's search as you
    type): it never queues behind a backup or a letter run in the shared pool, and only
    the newest request counts: one not yet started is dropped when a newer one comes, and
    the answer to an older one is never delivered."""

    def __init__(self):
        self._pool = QThreadPool()
        self._pool.setMaxThreadCount(1)
        self._newest = 0
        self._relays: dict[int, _Relay] = {}  # ticket -> relay, kept alive until it answers

    def submit(self, fn: Callable[[], object], on_done: Callable[[object], None],
               on_error: Callable[[BaseException], None]) -> None:
        self._newest += 1
        ticket = self._newest
        self._pool.clear()  # a request still queued will never run: forget its relay
        for old in [t for t, r in self._relays.items() if not r.running]:
            del self._relays[old]

        def answer(callback):
            def deliver(value):
                self._relays.pop(ticket, None)
                if ticket == self._newest:
                    callback(value)
            return deliver

        relay = _Relay(answer(on_done), answer(on_error))
        _live.discard(relay)  # kept here, not in the shared pool's set: worker.busy() is about tasks
        relay.running = False
        self._relays[ticket] = relay

        def job():
            relay.running = True
            return fn()

        self._pool.start(_Job(job, relay))

    def forget(self) -> None:
        """Answers still on their way are not delivered (e.g. after a lock)."""
        self._newest += 1

    @property
    def pending(self) -> bool:
        return bool(self._relays)

    def wait(self, msecs: int = 30000) -> bool:
        return self._pool.waitForDone(msecs)


def busy() -> bool:
    return bool(_live)


def wait(msecs: int = 30000) -> bool:
    return QThreadPool.globalInstance().waitForDone(msecs)
