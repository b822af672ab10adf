"""Wrong passwords signing in to a server register are slowed as the register file's are
(issue 15; store/keyfile.py ``after_failure``: 5 free, then 30 s doubling to 15 minutes), per
server and login, on this computer, at the desk's sign-in form and in every ``gp-optout``
command that signs in to a server alike (``throttled``): one count, kept in this user's
store/sign_in_counts.py file, so a script cannot go round the desk's count by the CLI.

The register file keeps its throttle in its key file; a server sign-in has no file, and the
server cannot count for us (a wrong password never reaches a connection the desk can write
with). A try is counted *before* it is made, under the file's lock, and given back if it did
not fail on the password (server unreachable, a refused certificate): so commands started
in parallel each take a turn, and none slips past the count while another is still trying.
The wrong tries are written into the practice's audit trail (``login``, outcome failed, the
time of each) at the login's next sign-in here, as the register file writes its failed
unlocks at the next unlock.

It is a speed bump on this computer, not a defence against someone guessing from another
program or after deleting the count: that is the server's (``auth_delay``,
docs/server-setup.md section 6) and the Argon2id run every guess costs.
"""

from __future__ import annotations

import json
import logging
from contextlib import nullcontext
from datetime import datetime
from typing import Callable

from ..problem_log import log_problem
from ..store import keyfile
from ..store.errors import StoreError, WrongPassword
from .session import utc_now

log = logging.getLogger(__name__)
KEPT_TRIES = 100  # wrong tries kept for the audit per login (the newest; the count itself is never cut)


class SignInThrottle:
    def __init__(self, load: Callable[[], str | None], save: Callable[[str], None],
                 clock: Callable[[], datetime] = utc_now, held: Callable = nullcontext):
        self._load, self._save, self._clock, self._held = load, save, clock, held

    @classmethod
    def on_this_computer(cls, clock: Callable[[], datetime] = utc_now) -> "SignInThrottle":
        """The one count the desk and the CLI share (store/sign_in_counts.py)."""
        from ..store.sign_in_counts import CountFile

        counts = CountFile()
        return cls(counts.load, counts.save, clock, counts.held)

    def _states(self) -> dict:
        try:
            states = json.loads(self._load() or "{}")
        except ValueError:
            return {}  # a damaged entry counts from nothing again, as a fresh desk would
        return states if isinstance(states, dict) else {}

    def _change(self, key: str, change: Callable[[dict], dict | None]):
        """``change(state) -> new state or None (forget the login)``, under the lock."""
        with self._held():
            states = self._states()
            state = states.get(key, {})
            new = change(dict(state) if isinstance(state, dict) else {})
            if new:
                states[key] = new
            else:
                states.pop(key, None)
            if new != state:
                self._save(json.dumps(states, sort_keys=True))

    @staticmethod
    def key(address, user: str) -> str:
        return f"{address.describe()}|{user.strip().casefold()}"

    def _retry_at(self, state: dict) -> datetime | None:
        raw = state.get("retry_at")
        try:
            return datetime.fromisoformat(raw) if raw else None
        except (TypeError, ValueError):
            return None  # why: a damaged time counts from nothing again, as a damaged file does

    def sign_in(self, sign_in: Callable, address, user: str, password: str):
        """``sign_in(address, user, password)`` unless this login is throttled here. The try is
        counted first (refused at once if throttled); a wrong password (or an unknown login: the
        same sentence) keeps it, any other failure gives it back, a sign-in clears the count and
        writes the wrong tries before it into the practice's audit trail."""
        key, now = self.key(address, user), self._clock()
        before: dict = {}

        def take_a_turn(state: dict) -> dict:
            keyfile.refuse_if_throttled(self._retry_at(state), now)
            before.update(state)
            return _counted(state, now)

        self._change(key, take_a_turn)
        try:
            session = sign_in(address, user, password)
        except WrongPassword:
            raise
        except BaseException:
            self._change(key, lambda state: _given_back(state, before, now))
            raise
        self._signed_in(key, session, now)
        return session

    def _signed_in(self, key: str, session, now: datetime) -> None:
        """Clear the count; the wrong tries go into the audit trail first, and stay here for the
        next sign-in if they cannot be written (or the sign-in has no session to write them)."""
        wrong: list[str] = []

        def clear(state: dict) -> dict:
            tries = _without_one(state.get("tries", []), now.isoformat())
            wrong.extend(tries)
            return {"tries": tries} if tries else {}

        self._change(key, clear)
        record = getattr(session, "record_wrong_sign_ins", None)
        if not wrong or record is None:
            return
        try:
            record(wrong)
        except StoreError as exc:  # why: the sign-in stands; the tries stay counted here for the next one
            log_problem(log, "Wrong sign-ins made on this computer were not written to the server's audit trail", exc)
            return
        self._change(key, lambda state: _minus(state, wrong))


def throttled(sign_in: Callable, throttle: SignInThrottle | None = None) -> Callable:
    """``sign_in(address, user, password)`` through this computer's count (the CLI's sign-ins)."""

    def run(address, user: str, password: str):
        return (throttle or SignInThrottle.on_this_computer()).sign_in(sign_in, address, user, password)

    return run


def _counted(state: dict, now: datetime) -> dict:
    state = keyfile.after_failure(state, now)
    state["tries"] = (list(state.get("tries", [])) + [now.isoformat()])[-KEPT_TRIES:]
    return state


def _given_back(state: dict, before: dict, now: datetime) -> dict | None:
    """One counted try taken back (it did not fail on the password); other tries since stay."""
    state = dict(state)
    state["failures"] = max(0, state.get("failures", 0) - 1)
    state["tries"] = _without_one(state.get("tries", []), now.isoformat())
    if state["failures"] < keyfile.FREE_FAILURES:
        state.pop("retry_at", None)
    elif state["failures"] == before.get("failures", 0):  # no other try counted meanwhile: its wait as before
        state.pop("retry_at", None)
        if before.get("retry_at"):
            state["retry_at"] = before["retry_at"]
    if not state["tries"]:
        state.pop("tries")
    return state if state.get("failures") or state.get("tries") else None


def _without_one(tries: list, mark: str) -> list:
    tries = list(tries)
    if mark in tries:
        tries.remove(mark)
    return tries


def _minus(state: dict, written: list) -> dict | None:
    tries = list(state.get("tries", []))
    for t in written:
        if t in tries:
            tries.remove(t)
    state = dict(state)
    if tries:
        state["tries"] = tries
    else:
        state.pop("tries", None)
    return state or None
