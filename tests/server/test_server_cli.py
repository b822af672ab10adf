"""`gp-optout server ...` (cli_server.py) on the real test cluster: the administrator creates
the schema, roles and row-level security, adds a practice and a desk login; the desk then
signs in with its own password (derived login) and sees only its practice. Weak addresses
and wrong passwords are refused with the CLI's exit codes, changing nothing."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from gp_optout_desktop import cli
from gp_optout_desktop.store.errors import WrongPassword
from gp_optout_desktop.store.server import connect, schema


@pytest.fixture
def run(pg_db, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(connect.ENV, raising=False)
    monkeypatch.delenv("GP_OPTOUT_SERVER_ADMIN_PASSWORD", raising=False)
    admin_pw = tmp_path / "admin.pw"
    admin_pw.write_text(pg_db.server.password + "\n")

    def run(*args, admin_password_file=admin_pw):
        extra = ["--admin-password-file", str(admin_password_file)] if admin_password_file else []
        code = cli.main(["server", *args, *extra])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def address(pg_db, **params) -> str:
    query = "&".join(f"{k}={quote(str(v))}" for k, v in {"sslrootcert": pg_db.server.ca_file, **params}.items())
    return f"postgresql://{pg_db.server.host}:{pg_db.server.port}/{pg_db.dbname}?{query}"


def forced_rls(pg_db) -> dict[str, tuple[bool, bool, str]]:
    with pg_db.admin() as conn:
        rows = conn.execute("SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner) "
                            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname = 'public' AND c.relkind = 'r'").fetchall()
    return {name: (rls, forced, owner) for name, rls, forced, owner in rows}


def test_server_init_creates_schema_roles_and_forced_rls_and_is_idempotent(pg_db, run):
    code, out, err = run("init", "--database", address(pg_db))
    assert (code, err) == (0, "")
    assert f"schema created at version {schema.LATEST}" in out and "add-practice" in out
    tables = forced_rls(pg_db)
    assert "patients" in tables and "audit" in tables
    assert all(v == (True, True, schema.OWNER) for v in tables.values()), tables
    with pg_db.admin() as conn:
        assert schema.version(conn) == schema.LATEST
        owner = conn.execute("SELECT rolcanlogin, rolbypassrls, rolsuper FROM pg_roles WHERE rolname = %s",
                             (schema.OWNER,)).fetchone()
    assert owner == (False, False, False)
    code, out, _ = run("init", "--database", address(pg_db))
    assert code == 0 and f"schema already at version {schema.LATEST}" in out
    assert forced_rls(pg_db) == tables


def test_a_practice_and_a_desk_added_by_the_cli_sign_in_with_the_desks_own_password(pg_db, run, tmp_path):
    assert run("init", "--database", address(pg_db))[0] == 0
    code, out, _ = run("add-practice", "--database", address(pg_db), "--name", "Test Surgery")
    assert code == 0 and out.startswith("Added practice ")
    practice_id = int(out.split()[2])
    desk_pw = tmp_path / "desk.pw"
    desk_pw.write_text("reception-password-1\n")
    login = f"{pg_db.role_prefix}desk"
    code, out, err = run("add-desk", "--database", address(pg_db), "--practice", str(practice_id), "--login", login,
                         "--desk-password-file", str(desk_pw))
    assert code == 0, err
    with pg_db.admin() as conn:
        verifier = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (login,)).fetchone()[0]
    assert verifier.startswith("SCRAM-SHA-256$")  # computed on the desk side, not the typed password
    desk, _unwrap = connect.connect_user(connect.parse(address(pg_db)), login, "reception-password-1")
    with desk:
        assert desk.execute("SELECT app_practice()").fetchone()[0] == practice_id
    with pytest.raises(WrongPassword, match="password is wrong"):
        connect.connect(connect.parse(address(pg_db)), login, "reception-password-1")  # the typed one is not the login


@pytest.mark.parametrize("params, message", [
    ({"sslmode": "require"}, "sslmode=verify-full"),
    ({"sslrootcert": "system"}, "CA certificate, pinned"),
])
def test_weak_addresses_are_refused_and_nothing_is_created(pg_db, run, params, message):
    code, _out, err = run("init", "--database", address(pg_db, **params))
    assert code == cli.EXIT_REFUSED and message in err and "Traceback" not in err
    with pg_db.admin() as conn:
        assert schema.version(conn) == 0


def test_a_wrong_admin_password_or_no_server_changes_nothing(pg_db, run, tmp_path):
    wrong = tmp_path / "wrong.pw"
    wrong.write_text("not-the-password")
    code, _out, err = run("init", "--database", address(pg_db), admin_password_file=wrong)
    assert code == cli.EXIT_REFUSED and "password is wrong" in err
    code, _out, err = run("init", admin_password_file=wrong)
    assert code == cli.EXIT_INVALID and "--database" in err
    with pg_db.admin() as conn:
        assert schema.version(conn) == 0
    from tests.server.cluster import free_port

    url = address(pg_db).replace(f":{pg_db.server.port}/", f":{free_port()}/")
    code, _out, err = run("init", "--database", url)
    assert code == cli.EXIT_STORE and "Nothing was saved" in err


def test_add_desk_needs_an_initialised_server(pg_db, run, tmp_path):
    desk_pw = tmp_path / "desk.pw"
    desk_pw.write_text("pw")
    code, _out, err = run("add-desk", "--database", address(pg_db), "--practice", "1", "--login",
                          f"{pg_db.role_prefix}desk", "--desk-password-file", str(desk_pw))
    assert code == cli.EXIT_STORE and "gp-optout server init" in err
