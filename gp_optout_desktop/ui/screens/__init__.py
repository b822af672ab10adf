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

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class ScreenSpec:
    title: str
    permission: str
    create: Callable  # (session_provider, bus) -> QWidget


SCREENS: list[ScreenSpec] = []
