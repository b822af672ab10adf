"""Import the screens' modules on a worker thread while the password is being checked.

The window builds its screens on the UI thread after an unlock; their modules (and what
they import: reportlab, the letter templates, the exclusion writer) took 0.3-0.4 s to
import there, a freeze right after every first unlock. Importing is thread-safe in Python
(module creation only, no widgets), and Argon2id runs outside the GIL meanwhile, so doing
it during the unlock hides it. Once per process; a failure is left for the screen itself
to report when it is built.
"""

from __future__ import annotations

import importlib

from . import worker

_started = False


def import_screens() -> None:
    from .screens import SCREENS

    for spec in SCREENS:
        module = spec.create.__qualname__.rsplit(".", 1)[0]
        try:
            importlib.import_module(f"{__package__}.screens.{module}")
        except Exception:  # noqa: BLE001
            pass  # why: the window builds the screen again on unlock, and logs and shows its failure then
    for name in ("gp_optout_desktop.services.integrity", "gp_optout_desktop.ui.patient_view",
                 "gp_optout_desktop.ui.record_objection", "gp_optout_desktop.ui.new_patient"):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001
            pass  # why: only a head start; the real import, where the module is used, raises and is reported


def start() -> None:
    """Warm the imports once, off the UI thread."""
    global _started
    if _started:
        return
    _started = True
    worker.run(import_screens, lambda _r: None, lambda _e: None)
