"""The include-me actions for the patient view: a patient asks to be extracted even while
the practice-wide opt-out is on (``ask_and_record``), or withdraws that request
(``ask_and_withdraw``).

Each: confirm through ui.dialogs, record through services.objections off the UI thread,
publish the ChangeSet, and say the result in words.
"""

from __future__ import annotations

from typing import Callable

from ...domain import codes
from ...domain.events import INCLUDE
from ...services import objections
from .. import worker
from . import _ask
from .base import describe_error

TITLE = "Request to be included"
WITHDRAW_TITLE = "Withdraw the request to be included"


def question(name: str, policy_on: bool) -> str:
    now = ("The practice-wide opt-out is on, so the practice's own extracts include them from today; national "
           "extractions follow the code in their clinical record once it is confirmed there." if policy_on else
           "The practice-wide opt-out is off, so this changes nothing until a GP turns it on.")
    return (f"Record that {name} asks to be included in GP data extractions?\n\n{now} A letter is "
            "queued. A Type 1 objection of their own still stands.")


def withdraw_question(name: str, policy_on: bool) -> str:
    now = ("The practice-wide opt-out is on, so the practice's own extracts leave them out from today; national "
           "extractions follow the code in their clinical record once it is confirmed there." if policy_on else
           "The practice-wide opt-out is off, so this changes nothing until a GP turns it on.")
    return (f"Record that {name} withdraws their request to be included in GP data extractions?\n\n{now} "
            "A letter is queued.")


def ask_and_record(parent, session, bus, patient_id: int, name: str, policy_on: bool, *, via: str = "desk",
                   done: Callable[[object], None] | None = None) -> bool:
    """Returns False if the user cancelled; otherwise the request runs in the background and
    ``done(changeset_or_exception)`` is called on the UI thread when it finishes."""
    if not _ask.confirm(parent, TITLE, question(name, policy_on), yes="Record request"):
        return False
    return _run(parent, session, bus, patient_id, codes.REGISTER, via, TITLE, done)


def ask_and_withdraw(parent, session, bus, patient_id: int, name: str, policy_on: bool, *, via: str = "desk",
                     done: Callable[[object], None] | None = None) -> bool:
    """As ``ask_and_record``, for withdrawing an active request to be included."""
    if not _ask.confirm(parent, WITHDRAW_TITLE, withdraw_question(name, policy_on), yes="Withdraw request"):
        return False
    return _run(parent, session, bus, patient_id, codes.WITHDRAW, via, WITHDRAW_TITLE, done)


def _run(parent, session, bus, patient_id: int, action: str, via: str, title: str,
         done: Callable[[object], None] | None) -> bool:
    def finished(changes):
        if bus is not None:
            bus.publish(changes)
        _ask.inform(parent, title, changes.summary + "".join(f"\n\n{w}" for w in changes.warnings))
        if done is not None:
            done(changes)

    def failed(exc):
        _ask.inform(parent, title, f"Not recorded: {describe_error(exc)}")
        if done is not None:
            done(exc)

    worker.run(lambda: objections.record(session, patient_id, INCLUDE, action, via=via), finished, failed)
    return True
