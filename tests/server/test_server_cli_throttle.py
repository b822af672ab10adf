"""Every command-line sign-in to a server goes through the desk's throttle (issue 15 gap:
services/server_throttle.py, store/sign_in_counts.py): one count per server and login on this
computer, shared by the desk's sign-in form and `gp-optout ... --database URL --login LOGIN`,
`export-from-server`, `migrate-to-server` and the administrator's `gp-optout server ...`;
the same five free tries and waits; the wrong tries written into the practice's audit trail at
the login's next sign-in. On the real test cluster with real sign-ins."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from gp_optout_desktop import cli
from gp_optout_desktop.domain import roles
from gp_optout_desktop.services import server_session
from gp_optout_desktop.services.server_throttle import SignInThrottle, throttled
from gp_optout_desktop.store import sign_in_counts
from gp_optout_desktop.store.errors import ServerUnreachable, Throttled, WrongPassword
from gp_optout_desktop.store.server import connect
from gp_optout_desktop.ui.main_window import server_sign_in
from tests.server import accounts

pytestmark = pytest.mark.server


@pytest.fixture
def register(pg_db, monkeypatch):
    monkeypatch.delenv(connect.ENV, raising=False)
    monkeypatch.delenv("GP_OPTOUT_SERVER_PASSWORD", raising=False)
    monkeypatch.delenv("GP_OPTOUT_SERVER_ADMIN_PASSWORD", raising=False)
    reg = accounts.Register(pg_db)
    yield reg
    reg.close()


def _counts() -> dict:
    path = sign_in_counts.CountFile().path
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _wait_over() -> None:
    """The time the count names has passed (as if the person waited): every wait moved back."""
    counts = sign_in_counts.CountFile()
    states = _counts()
    for state in states.values():
        if "retry_at" in state:
            state["retry_at"] = (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat()
    counts.save(json.dumps(states))


def test_wrong_passwords_from_the_cli_and_the_desk_count_together_and_are_audited(register, pg_db, tmp_path,
                                                                                  capsys, monkeypatch):
    mo = register.add_user("mo", "mo-password-1", roles.MANAGER)
    (tmp_path / "right.pw").write_text("mo-password-1\n")
    (tmp_path / "wrong.pw").write_text("mo-guess\n")
    tries = []
    real_connect = connect.connect
    monkeypatch.setattr(connect, "connect", lambda *a, **kw: tries.append(a[1]) or real_connect(*a, **kw))

    def codes_history(pw: str) -> tuple[int, str]:
        code = cli.main(["codes", "history", "--database", accounts.url(pg_db), "--login", mo,
                         "--server-password-file", str(tmp_path / pw)])
        return code, capsys.readouterr().err

    before = len(register.audit())
    for _ in range(3):  # three guesses from a script
        code, err = codes_history("wrong.pw")
        assert code == 3 and "user name or password is wrong" in err
    desk = server_sign_in(accounts.address(pg_db))
    for _ in range(2):  # two more at the desk's form: the same count
        with pytest.raises(WrongPassword):
            desk(None, mo, "mo-guess-2")
    assert len(tries) == 5
    # The sixth, from the CLI and with the right password, is refused before anything is sent.
    code, err = codes_history("right.pw")
    assert code == 3 and "Too many wrong passwords. The next try is allowed at " in err
    with pytest.raises(Throttled):
        desk(None, mo, "mo-password-1")
    out = tmp_path / "export.gpbackup"
    assert cli.main(["export-from-server", "--database", accounts.url(pg_db), "--login", mo,
                     "--server-password-file", str(tmp_path / "right.pw"), "--out", str(out)]) == 3
    assert "Too many wrong passwords" in capsys.readouterr().err and not out.exists()
    assert len(tries) == 5  # none of the refused tries reached the server
    assert len(register.audit()) == before  # a wrong password writes nothing on the server then

    _wait_over()
    code, err = codes_history("right.pw")
    assert code == 0, err
    failed = [row for row in register.audit()[before:] if row[3] == "login" and row[4] == "failed"]
    assert [row[1] for row in failed] == [mo] * 5
    assert all(row[5].startswith("wrong password on this computer at 20") for row in failed)
    assert _counts() == {}  # signed in and written: the count starts again from nothing
    code, err = codes_history("right.pw")
    assert code == 0
    assert len([row for row in register.audit() if row[4] == "failed"]) == 5  # none written twice


def test_the_administrators_and_the_migrations_sign_ins_are_counted_too(register, pg_db, tmp_path, capsys,
                                                                        monkeypatch):
    (tmp_path / "admin-wrong.pw").write_text("not-the-admin-password\n")
    (tmp_path / "admin-right.pw").write_text(pg_db.server.password + "\n")
    admin = ["--database", accounts.url(pg_db), "--admin-user", pg_db.server.superuser]

    def server_init(pw: str) -> tuple[int, str]:
        code = cli.main(["server", "init", *admin, "--admin-password-file", str(tmp_path / pw)])
        return code, capsys.readouterr().err

    for _ in range(5):
        code, err = server_init("admin-wrong.pw")
        assert code == 3 and "user name or password is wrong" in err
    code, err = server_init("admin-right.pw")
    assert code == 3 and "Too many wrong passwords" in err

    mo = register.add_user("mo", "mo-password-1", roles.MANAGER)
    (tmp_path / "mo-wrong.pw").write_text("mo-guess\n")
    key = SignInThrottle.key(accounts.address(pg_db), mo)
    monkeypatch.setenv("GP_OPTOUT_PASSWORD", "pm-password-1")  # the backup's own password, asked first
    assert cli.main(["--user", "pm", "migrate-to-server", "--database", accounts.url(pg_db), "--login", mo,
                     "--server-password-file", str(tmp_path / "mo-wrong.pw"),
                     "--from-backup", str(tmp_path / "none.gpbackup")]) == 3
    assert "user name or password is wrong" in capsys.readouterr().err
    assert _counts().get(key, {}).get("failures") == 1


def test_guesses_started_at_once_each_take_a_turn(register, pg_db):
    """Ten sign-ins started together (a script's parallel guesses): the count is taken before
    each try under the file's lock, so only five reach the server, not ten."""
    mo = register.add_user("mo", "mo-password-1", roles.MANAGER)
    reached, results = [], []

    def slow_guess(address, user, password):
        reached.append(user)
        time.sleep(0.3)  # the Argon2id run and the round trip of a real guess
        return server_session.sign_in(address, user, password)

    def guess():
        try:
            throttled(slow_guess)(accounts.address(pg_db), mo, "mo-guess")
        except (WrongPassword, Throttled) as exc:
            results.append(type(exc).__name__)

    threads = [threading.Thread(target=guess) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(reached) == 5
    assert sorted(results) == ["Throttled"] * 5 + ["WrongPassword"] * 5


def test_a_try_that_never_reached_the_password_is_given_back(register, pg_db):
    """A server that cannot be reached (or refuses the certificate) is not a wrong password: a
    desk whose network is down is never throttled for it."""
    mo = register.add_user("mo", "mo-password-1", roles.MANAGER)

    def unreachable(address, user, password):
        raise ServerUnreachable("The server cannot be reached. Nothing was saved.")

    for _ in range(8):
        with pytest.raises(ServerUnreachable):
            throttled(unreachable)(accounts.address(pg_db), mo, "mo-password-1")
    assert _counts() == {}
    session = throttled(server_session.sign_in)(accounts.address(pg_db), mo, "mo-password-1")
    session.lock()


def test_retyping_the_current_password_at_a_signed_in_desk_is_counted_as_a_sign_in(register, pg_db):
    """Register > Change my password on a server asks for the current password again: a desk
    left signed in must not let anyone guess its user's password faster than the sign-in form
    does. Each wrong retype counts in the same count as the sign-in form's; the sixth is refused
    even when right, changes nothing and reaches nothing; once the wait is over the right one
    changes the password, clears the count and writes the wrong tries into the trail."""
    from gp_optout_desktop.services import users

    rita = register.add_user("rita", "rita-password-1", roles.RECEPTIONIST)
    session = server_session.sign_in(accounts.address(pg_db), rita, "rita-password-1")
    before = len(register.audit())
    for _ in range(4):
        with pytest.raises(WrongPassword, match="current password is wrong"):
            users.change_password(session, "rita-guess", "rita-password-2")
    with pytest.raises(WrongPassword):  # the sign-in form's try: the same count
        server_sign_in(accounts.address(pg_db))(None, rita, "rita-guess-2")
    with pytest.raises(Throttled):
        users.change_password(session, "rita-password-1", "rita-password-2")
    assert _counts()[SignInThrottle.key(accounts.address(pg_db), rita)]["failures"] == 5
    assert len(register.audit()) == before  # nothing written, the password unchanged

    _wait_over()
    users.change_password(session, "rita-password-1", "rita-password-2")
    failed = [row for row in register.audit()[before:] if row[3] == "login" and row[4] == "failed"]
    assert [row[1] for row in failed] == [rita] * 5
    assert _counts() == {}
    session.lock()
    with pytest.raises(WrongPassword):
        server_session.sign_in(accounts.address(pg_db), rita, "rita-password-1")
    server_session.sign_in(accounts.address(pg_db), rita, "rita-password-2").lock()
