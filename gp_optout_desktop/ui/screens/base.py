"""What every manager/GP screen shares: the session, the change bus, an inline status
line, and service calls run off the UI thread with their errors put into words.

Screens never poke each other: after an operation they publish its ChangeSet on the
bus and every screen whose areas it touched reloads from the services.
"""

from __future__ import annotations

import errno
from typing import Callable

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ...domain.errors import ValidationError
from ...services.changes import ChangeSet
from ...store.errors import StoreError
from ._task import TaskRunner

SIZE_FROM_ROWS = 200  # table columns are sized from this many rows, not from thousands

_DISK_WORDS = {
    errno.ENOSPC: "the disk is full",
    errno.ENOENT: "the folder does not exist",
    errno.EACCES: "permission to write there was refused",
    errno.EROFS: "the disk is read-only",
}


def describe_error(exc: BaseException) -> str:
    """A sentence a practice manager can act on; never a traceback."""
    if isinstance(exc, PermissionError) and exc.errno is None:
        return str(exc)  # a role refused by the service layer, already in words
    if isinstance(exc, (ValidationError, StoreError)):
        return str(exc)
    if isinstance(exc, OSError):
        words = _DISK_WORDS.get(exc.errno, exc.strerror or exc.__class__.__name__)
        where = f" ({exc.filename})" if exc.filename else ""
        return f"Could not write the file{where}: {words}. Nothing was replaced."
    text = str(exc).strip()
    if exc.__class__.__module__.startswith("gp_optout_desktop") and text:
        return text  # our own packages' errors are written to be shown
    return f"Something went wrong ({exc.__class__.__name__}). Nothing further was changed."


class Screen(QWidget):
    """Base for one screen. Subclasses build widgets, then call ``refresh()``.

    ``AREAS``: the ChangeSet areas that make this screen reload (None: every change)."""

    AREAS: frozenset[str] | None = None

    def __init__(self, session_provider: Callable, bus, title: str, parent: QWidget | None = None):
        super().__init__(parent)
        self._session_provider = session_provider
        self.bus = bus
        self.runner = TaskRunner()
        self._action_widgets: list[QWidget] = []
        self._stale = False
        self._cleared = False
        self.setAccessibleName(title)
        self.setObjectName(title.replace(" ", "_").lower())
        self.outer = QVBoxLayout(self)
        heading = QLabel(f"<h2>{title}</h2>")
        heading.setAccessibleName(title)
        self.outer.addWidget(heading)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Status")
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                            | Qt.TextInteractionFlag.TextSelectableByKeyboard)
        self.runner.on_busy.append(self._busy_if_alive)
        if bus is not None:
            bus.changed.connect(self._on_changed)
            bus.locked.connect(self.clear)
            bus.unlocked.connect(self._on_unlocked)

    # --- layout helpers -------------------------------------------------------
    def add_status_line(self) -> None:
        """Call where the status line should sit (usually under the main actions)."""
        self.outer.addWidget(self.status)

    def actions(self, *widgets: QWidget) -> None:
        """Widgets disabled while an operation is under way (no double clicks)."""
        self._action_widgets.extend(widgets)

    # --- session and operations ----------------------------------------------
    def session(self):
        session = self._session_provider()
        if session is None:
            from ...services.session import Locked

            raise Locked("The register is locked. Unlock it to continue.")
        return session

    @property
    def busy(self) -> bool:
        return self.runner.busy

    def call(self, fn: Callable, done: Callable[[object], None] | None = None, *,
             failed: Callable[[BaseException], None] | None = None, working: str | None = None,
             publish: bool = True) -> None:
        """Run ``fn(session)`` off the UI thread. A ChangeSet result is published on the bus
        and its summary shown; errors are shown in words in the status line."""
        try:
            session = self.session()
        except StoreError as exc:
            self.show_error(describe_error(exc))
            return
        if working:
            self.show_info(working)

        # The window may have locked and deleted this screen while the call ran: its answer
        # then has nowhere to go (and touching the deleted widgets would raise).
        def finished(result):
            if not shiboken6.isValid(self):
                return
            if isinstance(result, ChangeSet):
                self.show_info(result.summary + "".join(f" {w}" for w in result.warnings))
                if publish and self.bus is not None:
                    self.bus.publish(result)
            if done is not None:
                done(result)

        def error(exc: BaseException):
            if not shiboken6.isValid(self):
                return
            self.show_error(describe_error(exc))
            if failed is not None:
                failed(exc)

        self.runner.run(lambda: fn(session), finished, error)

    def show_error(self, text: str) -> None:
        self.status.setStyleSheet("color: #a4000f; font-weight: bold;")
        self.status.setText(text)
        self.status.setAccessibleDescription(text)

    def show_info(self, text: str) -> None:
        self.status.setStyleSheet("color: #004b1c;")
        self.status.setText(text)
        self.status.setAccessibleDescription(text)

    # --- refresh ----------------------------------------------------------------
    def refresh(self) -> None:  # pragma: no cover - every screen overrides
        raise NotImplementedError

    def load_when_shown(self) -> None:
        """First load: now if visible, else when first shown. A screen the user never opens
        never reads (the audit trail's view is itself audited)."""
        if self.isVisible():
            self.refresh()
        else:
            self._stale = True

    def _on_unlocked(self, _session) -> None:
        # The window builds its screens after each unlock; only one that was cleared needs reloading.
        if self._cleared:
            self._cleared = False
            self.load_when_shown()

    def clear(self) -> None:
        """Locked: forget what is shown. Subclasses clear their models too."""
        self._cleared = True
        self.status.clear()

    def _on_changed(self, changeset: ChangeSet) -> None:
        if self.AREAS is None or not changeset.areas or (self.AREAS & changeset.areas):
            if not self.isVisible():
                self._stale = True  # reload when next shown: hidden tabs need not read (or audit) now
            elif self._session_provider() is not None:
                self.refresh()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale and self._session_provider() is not None:
            self._stale = False
            self.refresh()

    def _busy_if_alive(self, busy: bool) -> None:
        if shiboken6.isValid(self):  # the screen may be deleted (locked) while a call ran
            self._on_busy(busy)

    def _on_busy(self, busy: bool) -> None:
        for widget in self._action_widgets:
            widget.setEnabled(not busy)
        self.setCursor(Qt.BusyCursor if busy else Qt.ArrowCursor)


