"""One change signal for every screen (Anki's pattern).

After every service operation the caller emits ``changed(changeset)``; screens
refresh from it and never poke each other. ``locked`` tells every screen to
forget the patient data it shows; ``unlocked`` carries the new Session.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal


class ChangeBus(QObject):
    changed = Signal(object)  # services.changes.ChangeSet
    locked = Signal()
    unlocked = Signal(object)  # services.session.Session

    def publish(self, changeset) -> None:
        """Emit a ChangeSet returned by a service operation (None is ignored)."""
        if changeset is not None:
            self.changed.emit(changeset)


class ScopedBus(ChangeBus):
    """The bus handed to one extra screen for one unlock.

    Signals come down from the window's bus and ``publish`` goes up to it. The
    window detaches and deletes it with the screen at lock, so any lambda a screen
    connected to it can never call into a deleted widget. A screen that emits
    ``locked`` itself (e.g. after a restore) asks the window to lock.
    """

    def __init__(self, parent_bus: ChangeBus):
        super().__init__()
        self._parent_bus = parent_bus
        self._links = [(parent_bus.changed, self.changed), (parent_bus.locked, self.locked),
                       (parent_bus.unlocked, self.unlocked)]
        for source, target in self._links:
            source.connect(target)

    def publish(self, changeset) -> None:
        self._parent_bus.publish(changeset)

    def detach(self) -> None:
        for source, target in self._links:
            try:
                source.disconnect(target)
            except (RuntimeError, TypeError):
                pass  # why: already disconnected, or the source was destroyed with its window: nothing to undo
        self._links = []
