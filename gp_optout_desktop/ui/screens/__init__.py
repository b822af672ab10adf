"""Extra screens for the main window (owned by the desktop app part 2).

The main window shows each ``ScreenSpec`` in ``SCREENS`` whose ``permission``
(a domain.roles permission string) the signed-in role is allowed, calling
``create(session_provider, bus)`` once per unlock to build its widget:

- ``session_provider()`` returns the current services Session (or None when locked);
- ``bus`` is the ui.bus.ChangeBus: listen to ``changed`` to refresh, to ``locked``
  to clear any patient data, and call ``bus.publish(changeset)`` after each
  service operation.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class ScreenSpec:
    title: str
    permission: str
    create: Callable  # (session_provider, bus) -> QWidget


def _lazy(module: str) -> Callable:
    """Import a screen's module only when its screen is built (keeps start-up quick)."""

    def create(session_provider, bus):
        return importlib.import_module(f"{__name__}.{module}").create(session_provider, bus)

    create.__qualname__ = f"{module}.create"
    return create


# Title, the permission that shows it, its module. The service layer refuses the same roles anyway.
SCREENS: list[ScreenSpec] = [
    ScreenSpec("Overview", "search", _lazy("overview")),
    ScreenSpec("Coding", "view_coding", _lazy("coding")),
    ScreenSpec("Letters", "print_letters", _lazy("letters")),
    ScreenSpec("Exclusion file", "export", _lazy("exclusion")),
    ScreenSpec("Practice-wide opt-out", "practice_optout", _lazy("practice_optout")),
    ScreenSpec("Audit trail", "view_audit", _lazy("audit")),
    ScreenSpec("Users", "manage_users", _lazy("users")),
    ScreenSpec("Backups", "backup", _lazy("backups")),
    ScreenSpec("Import", "import_objections", _lazy("import_objections")),
    ScreenSpec("Practice list", "import_practice_list", _lazy("practice_list")),
    ScreenSpec("Reconcile", "reconcile", _lazy("reconcile")),
    ScreenSpec("Settings", "settings", _lazy("settings")),
]
