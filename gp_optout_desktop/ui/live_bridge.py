"""Other desks' changes, on the UI thread (issue 15 live desks; docs/adr/0005, hazard H-78).

``services.live.Watcher`` calls back on its own thread. ``LiveBridge`` lives on the UI thread
and re-emits each callback through a queued connection, so ``changed(revision, patient_ids)``
and ``state_changed(state, message)`` are always delivered on the UI thread, where a slot may
touch widgets: the open patient view reloads when its patient is in the list, the search
results re-run their query, and the status line shows the state's message ("Server
unreachable - nothing can be saved until it is back").
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot

from ..services import live


class LiveBridge(QObject):
    changed = Signal(int, list)  # revision, patient ids (row ids, never identifiers)
    state_changed = Signal(str, str)  # services.live state, the sentence the desk shows

    _heard = Signal(int, list)  # emitted on the watcher's thread
    _state = Signal(str, str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._heard.connect(self._deliver_change, Qt.ConnectionType.QueuedConnection)
        self._state.connect(self._deliver_state, Qt.ConnectionType.QueuedConnection)
        self._watcher: live.Watcher | None = None
        self.state, self.message = live.STOPPED, live.MESSAGES[live.STOPPED]

    def watch(self, connect: Callable[[], object], *, since: int | None = None, **kw) -> live.Watcher:
        """Start a watcher on ``connect`` (the desk's login; called again to reconnect)."""
        if self._watcher is not None:
            raise RuntimeError("this desk is already listening")
        self._watcher = live.Watcher(connect, on_change=self._on_change, on_state=self._on_state, since=since, **kw)
        return self._watcher.start()

    def stop(self) -> None:
        """At lock or close: the watcher's thread ends and its connection closes."""
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None

    # Called on the watcher's thread: only emit, never touch anything else.
    def _on_change(self, change: live.Change) -> None:
        self._heard.emit(change.revision, list(change.patients))

    def _on_state(self, state: str, message: str) -> None:
        self._state.emit(state, message)

    @Slot(int, list)
    def _deliver_change(self, revision: int, patients: list) -> None:
        self.changed.emit(revision, patients)

    @Slot(str, str)
    def _deliver_state(self, state: str, message: str) -> None:
        self.state, self.message = state, message
        self.state_changed.emit(state, message)
