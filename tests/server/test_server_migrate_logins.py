"""After `gp-optout migrate-to-server` every user of the moved register signs in at a desk
(issue 15): the migration names their users row and key slot by their server login (the
documented rule: --login-prefix, --login-map), records the file-name -> login mapping in its
audit entry, prints each login, and refuses a missing, invalid, repeated or taken login before
anything is written. Real register file, real PostgreSQL (tests/conftest.py fixtures)."""

from __future__ import annotations

import json
import os
import re

import psycopg
import pytest

from gp_optout_desktop import cli
from gp_optout_desktop.domain import roles
from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.services import patients as patients_service
from gp_optout_desktop.services import server_migration, server_session, users as users_service
from gp_optout_desktop.store import retired
from gp_optout_desktop.store.errors import WrongPassword
from gp_optout_desktop.store.server import connect, migrate, ops, schema
from tests.server import practices
from tests.server.test_server_cli import run  # noqa: F401 (the administrator's `gp-optout server` CLI)
from tests.server.test_server_migrate import _cli_login, _empty

pytestmark = pytest.mark.server


@pytest.fixture
def target(pg_db):
    admin = practices.init(pg_db)
    practice = practices.new_practice(pg_db, admin, "Riverside Surgery")
    admin.close()
    return practice


@pytest.fixture
def register(demo):
    """The demo register (manager, reception, gp) plus a second GP and a user removed before the move."""
    users_service.add(demo, "drsmith", roles.GP, "drsmith-own-password")
    users_service.add(demo, "leaver", roles.RECEPTIONIST, "leaver-own-password")
    users_service.remove(demo, "leaver")
    return demo


def _printed_logins(out: str) -> dict[str, tuple[str, str | None]]:
    """{file name: (login, temporary password or None)} from the migration's output."""
    found = {}
    for name, login, rest in re.findall(r"^  (\S+)\s+-> (\S+)(.*)$", out, re.M):
        pw = re.search(r"temporary password: (\S+)", rest)
        found[name] = (login, pw.group(1) if pw else None)
    return found


def test_every_migrated_user_signs_in_with_their_login_and_finds_their_role_and_the_patients(
        pg_db, register, register_dir, target, tmp_path, capsys, monkeypatch, run):
    from gp_optout_desktop.store import patients as patients_store

    with register.register.reading() as conn:
        nhs = next(p.nhs_number for p in patients_store.get_many(conn, list(range(1, 40))).values() if p.nhs_number)
    register.lock()
    url, pm_login, pm_pw = _cli_login(pg_db, target.id, tmp_path)
    prefix = pg_db.role_prefix
    monkeypatch.setenv("GP_OPTOUT_REGISTER", str(register_dir))
    monkeypatch.setenv("GP_OPTOUT_PASSWORD", "manager-demo-pass")
    monkeypatch.delenv(connect.ENV, raising=False)
    args = ["--user", "manager", "migrate-to-server", "--database", url, "--login", pm_login,
            "--server-password-file", str(pm_pw), "--login-prefix", prefix]
    code = cli.main([*args, "--login-map", "gp"])  # not NAME=LOGIN
    _out, err = capsys.readouterr()
    assert code == cli.EXIT_INVALID and "NAME=LOGIN" in err and _empty(pg_db, target.id)
    code = cli.main([*args, "--login-map", "gp=Dr.Jones"])  # not a valid login
    _out, err = capsys.readouterr()
    assert code == cli.EXIT_INVALID and "is not valid" in err and _empty(pg_db, target.id)
    code = cli.main([*args, "--login-map", f"gp={prefix}drjones"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, ""), err
    printed = _printed_logins(out)
    assert {n: login for n, (login, _pw) in printed.items()} == {
        "manager": pm_login, "reception": f"{prefix}reception", "gp": f"{prefix}drjones",
        "drsmith": f"{prefix}drsmith", "leaver": f"{prefix}leaver"}
    assert printed["manager"][1] is None and printed["leaver"][1] is None  # no key slot for a removed user
    assert f"--practice {target.id}" in out

    # The administrator makes each login with the printed temporary password (gp-optout server add-desk).
    server = connect.parse(url)
    for name in ("reception", "gp", "drsmith"):
        login, temporary = printed[name]
        typed = tmp_path / f"{name}.pw"
        typed.write_text(temporary + "\n")
        code, _out, err = run("add-desk", "--database", url, "--practice", str(target.id), "--login", login,
                              "--desk-password-file", str(typed))
        assert code == 0, err

    expected = {"manager": ("pm-server-password", roles.MANAGER), "reception": (printed["reception"][1],
                roles.RECEPTIONIST), "gp": (printed["gp"][1], roles.GP), "drsmith": (printed["drsmith"][1], roles.GP)}
    for name, (password, role) in expected.items():
        session = server_session.sign_in(server, printed[name][0], password)
        try:
            assert (session.user, session.role) == (printed[name][0], role)
            # Everyone but the migrating manager signed in with a temporary password: change it now.
            assert session.must_change_password is (name != "manager")
            ids = patients_service.find_ids(session, nhs)
            assert len(ids) == 1
            with session.read_store("search") as store:
                assert store.get_patient(ids[0]).nhs_number == nhs
        finally:
            session.lock()
    # Someone else's temporary password does not open a login.
    with pytest.raises(WrongPassword):
        server_session.sign_in(server, printed["gp"][0], printed["reception"][1])
    # Changed at sign-in, the temporary password stops working (login and key slot together).
    session = server_session.sign_in(server, printed["reception"][0], printed["reception"][1])
    users_service.change_own_password(session, "reception-own-password")
    session.lock()
    with pytest.raises(WrongPassword):
        server_session.sign_in(server, printed["reception"][0], printed["reception"][1])
    session = server_session.sign_in(server, printed["reception"][0], "reception-own-password")
    assert session.must_change_password is False
    session.lock()

    # The move's audit entry says how the new names map to the file's; the archived file trail
    # (verified, not rewritten) still names users by their file names.
    desk = ops.Desk.unlock(practices.connect(pg_db, pm_login, connect.derive_login(
        server, pm_login, "pm-server-password")[1]), connect.derive_login(server, pm_login, "pm-server-password")[0],
        user=pm_login, role=roles.MANAGER)
    detail = desk.conn.execute("SELECT detail FROM audit WHERE action = 'migrate.logins'").fetchone()[0]
    assert json.loads(detail)["file_name_to_login"] == {n: login for n, (login, _pw) in printed.items()}
    assert desk.conn.execute("SELECT name FROM users ORDER BY name").fetchall() == \
        sorted((login,) for login, _pw in printed.values())
    entries, _record = migrate.archived_chain(desk)
    assert "manager" in {e["user"] for e in entries}
    assert migrate.verify_archive(desk) == []
    desk.conn.close()


@pytest.mark.parametrize("kwargs, taken, says", [
    ({}, None, "needs a login on the server"),
    ({"login_map": {"gp": "Dr-Jones"}}, None, "is not valid"),
    ({"login_map": {"gp": "ab"}}, None, "is not valid"),
    ({"login_map": {"gp": "{p}reception"}}, None, "would both sign in as"),
    ({"login_map": {"nobody": "{p}nobody"}}, None, "no user called nobody"),
    ({"login_map": {"manager": "{p}someone"}}, None, "the login you are moving the register with"),
    ({}, "gp", "already exists on this server"),
], ids=["no-rule", "invalid", "too-short", "clash-within", "unknown-user", "manager-renamed", "clash-cluster"])
def test_a_missing_invalid_or_clashing_login_is_refused_with_nothing_written(pg_db, demo, target, kwargs, taken,
                                                                             says):
    prefix = pg_db.role_prefix
    kwargs = {k: {n: v.format(p=prefix) for n, v in m.items()} for k, m in kwargs.items()}
    if taken or kwargs.get("login_map"):
        kwargs["login_prefix"] = prefix
    if taken:  # another practice on the cluster already has this login
        with pg_db.admin() as admin:
            other = practices.new_practice(pg_db, admin, "Other Surgery", logins=0)
            schema.add_desk_login(admin, other.id, f"{prefix}{taken}", "x" * 20)
    login, password = target.logins[0]
    conn = practices.connect(pg_db, login, password)
    with pytest.raises(ValidationError, match=says) as refused:
        server_migration.migrate(demo, conn, os.urandom(32), server="test", **kwargs)
    assert "Nothing was sent to the server." in str(refused.value)
    assert str(refused.value).count(". ") <= 2  # one sentence, then "Nothing was sent..."
    assert _empty(pg_db, target.id)
    with demo.register.reading() as c:
        assert retired.moved(c) is None
    conn.close()


def test_a_second_manager_can_run_the_move(pg_db, demo, register_dir, target):
    """The migrating manager's users row goes in first: once a practice has an active manager
    only a manager's login may add users rows (server schema V5), and the file's first manager
    is not the one moving it here."""
    from gp_optout_desktop.services import session as session_service

    users_service.add(demo, "deputy", roles.MANAGER, "deputy-own-password")
    demo.lock()
    deputy = session_service.unlock(register_dir, "deputy", "deputy-own-password")
    try:
        login, password = target.logins[0]
        report = server_migration.migrate(deputy, practices.connect(pg_db, login, password), os.urandom(32),
                                          server="test", login_prefix=pg_db.role_prefix)
    finally:
        deputy.lock()
    assert report.logins["deputy"] == login and set(report.passwords) == {
        pg_db.role_prefix + n for n in ("manager", "reception", "gp")}
    with psycopg.connect(pg_db.admin_conninfo) as admin:
        slots = dict(admin.execute("SELECT name, must_change FROM key_slots WHERE practice_id = %s", (target.id,)))
    assert slots == {login: False, **{pg_db.role_prefix + n: True for n in ("manager", "reception", "gp")}}
