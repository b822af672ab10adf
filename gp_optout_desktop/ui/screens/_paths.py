"""Choosing a file or folder, injectable like ui.dialogs: a file dialog's ``exec`` hangs a
headless test, so tests queue the next path and, with dialogs.strict on, an unexpected
chooser fails the test instead of blocking it.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from .. import dialogs

_next: deque[Path | None] = deque()


def set_next_path(path: Path | str | None) -> None:
    """The next chooser returns ``path`` (None: the user cancelled)."""
    _next.append(Path(path) if path is not None else None)


def reset() -> None:
    _next.clear()


def _queued(title: str):
    dialogs.shown.append((title, ""))
    if _next:
        return True, _next.popleft()
    if dialogs.strict:
        raise AssertionError(f"Unexpected file chooser with no queued path: {title}")
    return False, None


def choose_folder(parent, title: str, start: Path | str = "") -> Path | None:
    queued, path = _queued(title)
    if queued:
        return path
    chosen = QFileDialog.getExistingDirectory(parent, title, str(start))
    return Path(chosen) if chosen else None


def choose_save_file(parent, title: str, suggested: Path | str, file_filter: str) -> Path | None:
    queued, path = _queued(title)
    if queued:
        return path
    chosen, _ = QFileDialog.getSaveFileName(parent, title, str(suggested), file_filter)
    return Path(chosen) if chosen else None


def choose_open_file(parent, title: str, start: Path | str, file_filter: str) -> Path | None:
    queued, path = _queued(title)
    if queued:
        return path
    chosen, _ = QFileDialog.getOpenFileName(parent, title, str(start), file_filter)
    return Path(chosen) if chosen else None
