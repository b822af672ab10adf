"""Wrong passwords at a desk signing in to a server register are slowed as on the register
file (services/server_throttle.py, the rule of store/keyfile.py): five free, then 30 s,
doubling, per server and login, on the desk; a throttled try neither derives the key nor
connects; a sign-in clears the count. On the real test cluster with real sign-ins."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.services import server_session
from gp_optout_desktop.services.server_throttle import SignInThrottle
from gp_optout_desktop.store.errors import Throttled, WrongPassword
from tests.server.accounts import Register, address


@pytest.fixture
def register(pg_db):
    reg = Register(pg_db)
    yield reg
    reg.close()


def test_five_wrong_passwords_then_the_desk_waits_and_a_sign_in_clears_the_count(register, pg_db):
    login = register.add_user("rita", "rita-password-1", roles.RECEPTIONIST)
    other = register.add_user("omar", "omar-password-1", roles.RECEPTIONIST)
    stored, now, calls = {}, [datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc)], []

    def counted_sign_in(*args):
        calls.append(args[1])
        return server_session.sign_in(*args)

    throttle = SignInThrottle(lambda: stored.get("v"), lambda v: stored.__setitem__("v", v), clock=lambda: now[0])
    where = address(pg_db)
    before = len(register.audit())
    for _ in range(5):
        with pytest.raises(WrongPassword, match="user name or password is wrong"):
            throttle.sign_in(counted_sign_in, where, login, "wrong-password")
    # The sixth try, even with the right password, is refused before anything is derived or sent.
    with pytest.raises(Throttled, match=r"Too many wrong passwords\. The next try is allowed at \d\d:\d\d:\d\d\."):
        throttle.sign_in(counted_sign_in, where, login, "rita-password-1")
    assert len(calls) == 5
    assert len(register.audit()) == before  # a wrong password writes nothing on the server
    # Another login on this desk is not held up by rita's count (nor is the name's case a way round it).
    omar = throttle.sign_in(counted_sign_in, where, other, "omar-password-1")
    omar.lock()
    with pytest.raises(Throttled):
        throttle.sign_in(counted_sign_in, where, login.upper(), "rita-password-1")

    now[0] += timedelta(seconds=31)  # the wait is over: one more wrong password waits 60 s
    with pytest.raises(WrongPassword):
        throttle.sign_in(counted_sign_in, where, login, "wrong-password")
    now[0] += timedelta(seconds=59)
    with pytest.raises(Throttled):
        throttle.sign_in(counted_sign_in, where, login, "rita-password-1")
    now[0] += timedelta(seconds=2)
    session = throttle.sign_in(counted_sign_in, where, login, "rita-password-1")
    session.lock()
    # Signed in: the count starts again from nothing.
    for _ in range(5):
        with pytest.raises(WrongPassword):
            throttle.sign_in(counted_sign_in, where, login, "wrong-password")
    with pytest.raises(Throttled):
        throttle.sign_in(counted_sign_in, where, login, "rita-password-1")


def test_a_damaged_stored_count_starts_again_rather_than_locking_the_desk_out(register, pg_db):
    login = register.add_user("rita", "rita-password-1", roles.RECEPTIONIST)
    stored = {"v": "not json {"}
    throttle = SignInThrottle(lambda: stored.get("v"), lambda v: stored.__setitem__("v", v))
    session = throttle.sign_in(server_session.sign_in, address(pg_db), login, "rita-password-1")
    assert session.user == login
    session.lock()
    with pytest.raises(WrongPassword):
        throttle.sign_in(server_session.sign_in, address(pg_db), login, "wrong-password")
    state = json.loads(stored["v"])[SignInThrottle.key(address(pg_db), login)]
    assert state["failures"] == 1 and len(state["tries"]) == 1
