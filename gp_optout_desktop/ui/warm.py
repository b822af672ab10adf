"""Import the screens' modules on a worker thread as the password is checked.

The window builds its screens on the UI thread after an unlock; their modules (and what
they import: reportlab, the letter templates, the exclusion writer) took 0.3-0.4 s to
import there, a freeze right after every first unlock. Importing is thread-safe in Python
(module creation only, no widgets), so it is done on a worker. It waits for the unlock's
Argon2id runs to release their memory first (store.keyfile.ARGON2_GATE): the modules'
memory is kept for good, and on top of Argon2's 128-192 MiB it raised the process's peak
(issue 13). It then runs while the register opens, and the unlock screen hands the session
to the window only once it is done (``when_done``): building a screen whose module is still
being imported here would wait on the UI thread. Once per process; a failure is left for the
screen itself to report when it is built.
"""

from __future__ import annotations

import importlib
import threading

from ..store import keyfile
from . import worker

_started = False
_done = False
_ui_warmed = False
_waiting: list = []  # callbacks (UI thread) for when the imports are done
_released = threading.Event()


def import_screens() -> None:
    from .screens import SCREENS

    for spec in SCREENS:
        module = spec.create.__qualname__.rsplit(".", 1)[0]
        try:
            importlib.import_module(f"{__package__}.screens.{module}")
        except Exception:  # noqa: BLE001
            pass  # why: the window builds the screen again on unlock, and logs and shows its failure then
    for name in ("gp_optout_desktop.services.integrity", "gp_optout_desktop.ui.screens.letter_templates",
                 "gp_optout_desktop.ui.patient_view",
                 "gp_optout_desktop.ui.record_objection", "gp_optout_desktop.ui.new_patient"):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001
            pass  # why: only a head start; the real import, where the module is used, raises and is reported


def mark() -> int:
    """Call before the unlock starts: the imports then wait for an Argon2id run after it."""
    return keyfile.ARGON2_GATE.finished


def release() -> None:
    """The unlock ended (either way): stop waiting for an Argon2id run (a throttled or
    refused unlock never runs one)."""
    _released.set()


def _after_argon2(after: int) -> None:
    while not keyfile.ARGON2_GATE.wait_released(after, 0.05) and not _released.is_set():
        pass
    import_screens()


def start(after: int | None = None) -> None:
    """Warm the imports once, off the UI thread, after the next Argon2id run has released its
    memory (``after``: from ``mark()`` taken before the unlock began)."""
    global _started
    if _started:
        return
    _started = True
    _released.clear()
    gate = mark() if after is None else after
    worker.run(lambda: _after_argon2(gate), _finished, _finished)


def ui_thread_once() -> None:
    """On the UI thread, once, while the unlock's Argon2id runs on a worker (the window only
    waits then). The first rich-text label made while a Python application-wide event filter
    is installed (the idle lock's) makes PySide create about 190 enum classes: 40-60 ms of the
    UI thread, which otherwise came with the first screen built after the unlock, or with the
    first events after the idle lock's filter came back, in the middle of typing (issue 13)."""
    global _ui_warmed
    if _ui_warmed:
        return
    _ui_warmed = True
    from PySide6.QtCore import QObject
    from PySide6.QtWidgets import QApplication, QLabel

    class _Filter(QObject):
        def eventFilter(self, _obj, _event) -> bool:
            return False

    app = QApplication.instance()
    if app is None:
        return
    probe = _Filter()
    app.installEventFilter(probe)
    try:
        QLabel("<h2> </h2>").deleteLater()
    finally:
        app.removeEventFilter(probe)
        probe.deleteLater()


def _finished(_result=None) -> None:
    global _done
    _done = True
    waiting, _waiting[:] = list(_waiting), []
    for callback in waiting:
        callback()


def when_done(callback) -> None:
    """Call ``callback`` on the UI thread once the imports are done (at once if they are,
    or were never started)."""
    if _done or not _started:
        callback()
    else:
        _waiting.append(callback)
