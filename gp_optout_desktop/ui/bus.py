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
