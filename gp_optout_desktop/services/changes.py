"""What an operation changed: screens refresh from this, never by poking each other."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ChangeSet:
    summary: str  # plain words, fit to show the user
    revision: int = 0
    patient_ids: frozenset[int] = frozenset()
    event_ids: tuple[int, ...] = ()
    letter_ids: tuple[int, ...] = ()
    areas: frozenset[str] = frozenset()  # e.g. {"patients", "letters", "policy", "users", "export"}
    warnings: tuple[str, ...] = ()
    data: dict = field(default_factory=dict, compare=False)
