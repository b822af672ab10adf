"""Wrong passwords at a desk signing in to a server register are slowed as the register
file's are (issue 15; store/keyfile.py ``after_failure``: 5 free, then 30 s doubling to
15 minutes), per server and login, on this desk.

The register file keeps its throttle in its key file; a server sign-in has no file, and the
server cannot count for us (a wrong password never reaches a connection the desk can write
with). So the desk keeps the count in its own settings (``load``/``save``, the window's
QSettings) and refuses a throttled sign-in before deriving the key or connecting. It is a
speed bump at the desk's sign-in form, not a defence against someone guessing from another
program: that is the server's (``auth_delay``, docs/server-setup.md section 6) and the
Argon2id run every guess costs.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Callable

from ..store import keyfile
from ..store.errors import WrongPassword
from .session import utc_now


class SignInThrottle:
    def __init__(self, load: Callable[[], str | None], save: Callable[[str], None],
                 clock: Callable[[], datetime] = utc_now):
        self._load, self._save, self._clock = load, save, clock

    def _states(self) -> dict:
        try:
            states = json.loads(self._load() or "{}")
        except ValueError:
            return {}  # a damaged entry counts from nothing again, as a fresh desk would
        return states if isinstance(states, dict) else {}

    @staticmethod
    def key(address, user: str) -> str:
        return f"{address.describe()}|{user.strip().casefold()}"

    def check(self, key: str) -> None:
        raw = self._states().get(key, {}).get("retry_at")
        keyfile.refuse_if_throttled(datetime.fromisoformat(raw) if raw else None, self._clock())

    def failed(self, key: str) -> None:
        states = self._states()
        states[key] = keyfile.after_failure(states.get(key, {}), self._clock())
        self._save(json.dumps(states, sort_keys=True))

    def succeeded(self, key: str) -> None:
        states = self._states()
        if states.pop(key, None) is not None:
            self._save(json.dumps(states, sort_keys=True))

    def sign_in(self, sign_in: Callable, address, user: str, password: str):
        """``sign_in(address, user, password)`` unless this login is throttled here; a wrong
        password (or unknown login: the same sentence) is counted, a sign-in clears the count."""
        key = self.key(address, user)
        self.check(key)
        try:
            session = sign_in(address, user, password)
        except WrongPassword:
            self.failed(key)
            raise
        self.succeeded(key)
        return session
