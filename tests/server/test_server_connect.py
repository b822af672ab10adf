"""A desk's connection to a server register (store/server/connect.py), on the real test cluster:
TLS verify-full against the pinned CA and SCRAM only, with a login password derived from the
user's password. Every weaker way is refused: by the server (no plaintext pg_hba line) or by
the desk (wrong CA, wrong host name, md5 / cleartext / trust sign-in, a weak sslmode asked for)."""

from __future__ import annotations

import base64
import contextlib
import time
from urllib.parse import quote

import psycopg
import pytest

from gp_optout_desktop.store import keyfile
from gp_optout_desktop.store.errors import ServerRefused, ServerUnreachable, StoreError, WrongPassword
from gp_optout_desktop.store.server import connect
from tests.server.cluster import pem_ca


def url(server, dbname: str, ca=None, host=None, port=None, **params) -> str:
    query = "&".join(f"{k}={quote(str(v))}" for k, v in {"sslrootcert": ca or server.ca_file, **params}.items())
    return f"postgresql://{host or server.host}:{port or server.port}/{dbname}?{query}"


def make_login(db, name: str, password: str, *, encryption: str = "scram-sha-256") -> None:
    """A login role whose password verifier is computed on this side (libpq's PQencryptPasswordConn),
    so the password itself never travels; ``encryption='md5'`` makes an old md5 verifier."""
    with db.admin() as conn:
        verifier = conn.pgconn.encrypt_password(password.encode(), name.encode(), encryption.encode()).decode()
        conn.execute(f'CREATE ROLE "{name}" LOGIN PASSWORD \'{verifier}\'')
        conn.execute(f'GRANT CONNECT ON DATABASE "{db.dbname}" TO "{name}"')


@contextlib.contextmanager
def hba_lines_first(server, lines: list[str], probe):
    """Put extra pg_hba.conf lines (for this test's own roles only) above the standard ones,
    reload, and wait until ``probe()`` says the server uses them; restore afterwards."""
    hba = server.data_dir / "pg_hba.conf"
    original = hba.read_text()
    hba.write_text("".join(line + "\n" for line in lines) + original)
    try:
        _reload_until(server, probe, True)
        yield
    finally:
        hba.write_text(original)
        _reload_until(server, probe, False)


def _reload_until(server, probe, wanted: bool) -> None:
    with server.admin() as conn:
        conn.execute("SELECT pg_reload_conf()")
    deadline = time.monotonic() + 10
    while probe() != wanted:
        assert time.monotonic() < deadline, "the server did not pick up its pg_hba.conf"
        time.sleep(0.05)


# ---- the address: weak settings refused before anything is sent -----------------------------------
@pytest.mark.parametrize("mode", ["disable", "allow", "prefer", "require", "verify-ca"])
def test_a_weaker_sslmode_in_the_address_is_refused_with_a_clear_message(pg_server, mode):
    with pytest.raises(ServerRefused, match=rf"asks for sslmode={mode}; a server register is only reached with "
                                            r"sslmode=verify-full"):
        connect.parse(url(pg_server, "gp", sslmode=mode))


@pytest.mark.parametrize("extra, message", [
    ({"require_auth": "md5"}, r"require_auth=md5"),
    ({"require_auth": "password"}, r"require_auth=password"),
    ({"channel_binding": "disable"}, r"channel_binding=disable"),
    ({"gssencmode": "prefer"}, r"gssencmode=prefer"),
    ({"service": "other"}, r"settings this program does not accept: service"),
    ({"password": "typed-in-url"}, r"must not contain a password"),
    ({"sslrootcert": "system"}, r"needs the practice's CA certificate, pinned"),
])
def test_addresses_that_would_weaken_the_connection_are_refused(pg_server, extra, message):
    with pytest.raises(ServerRefused, match=message):
        connect.parse(url(pg_server, "gp", **extra))


def test_an_address_needs_a_pinned_ca_that_exists(pg_server, monkeypatch, tmp_path):
    monkeypatch.delenv(connect.CA_ENV, raising=False)
    with pytest.raises(ServerRefused, match=r"sslrootcert=/path/to/ca.crt"):
        connect.parse(f"postgresql://{pg_server.host}:{pg_server.port}/gp")
    with pytest.raises(StoreError, match=r"does not exist"):
        connect.parse(url(pg_server, "gp", ca=tmp_path / "missing.crt"))
    monkeypatch.setenv(connect.CA_ENV, str(pg_server.ca_file))
    address = connect.parse(f"postgresql://{pg_server.host}:{pg_server.port}/gp")
    assert address.settings["sslrootcert"] == str(pg_server.ca_file.resolve())


def test_the_address_comes_from_the_option_else_the_environment(pg_server, monkeypatch):
    monkeypatch.delenv(connect.ENV, raising=False)
    assert connect.address_from(None) is None  # a register folder stays the default
    monkeypatch.setenv(connect.ENV, url(pg_server, "from_env"))
    assert connect.address_from(None).dbname == "from_env"
    assert connect.address_from(url(pg_server, "from_option")).dbname == "from_option"
    for bad in ("/srv/register", "mysql://host/db", "postgresql:///nohost"):
        with pytest.raises(StoreError):
            connect.parse(bad)


def test_what_the_desk_enforces_is_in_every_address(pg_server):
    settings = connect.parse(url(pg_server, "gp", sslmode="verify-full", application_name="desk 3")).settings
    assert settings["sslmode"] == "verify-full" and settings["channel_binding"] == "require"
    assert settings["require_auth"] == "scram-sha-256"  # psycopg's bundled libpq has it
    assert settings["gssencmode"] == "disable" and settings["application_name"] == "desk 3"
    assert "user" not in settings and "password" not in settings


# ---- the derived login ----------------------------------------------------------------------------
def test_the_login_password_is_derived_stable_and_unrelated_to_the_unwrap_key(pg_server):
    address = connect.parse(url(pg_server, "gp"))
    unwrap, login = connect.derive_login(address, "reception1", "correct horse battery")
    again = connect.derive_login(address, "reception1", "correct horse battery")
    assert (unwrap, login) == again  # stable: the same password always signs in
    assert len(unwrap) == 32 and len(login) == 43
    raw_login = base64.urlsafe_b64decode(login + "=")
    assert raw_login != unwrap and login not in (unwrap.hex(), base64.b64encode(unwrap).decode())
    # Neither is the bare Argon2id output (what today's register file uses as its KEK).
    stretched = keyfile.derive_kek("correct horse battery", connect.login_salt(address, "reception1"),
                                   keyfile.SERVER_KDF)
    assert stretched not in (unwrap, raw_login)
    # Another password, login or database gives another login password.
    other_db = connect.parse(url(pg_server, "gp2"))
    assert connect.derive_login(address, "reception1", "correct horse batterY")[1] != login
    assert connect.derive_login(address, "reception2", "correct horse battery")[1] != login
    assert connect.derive_login(other_db, "reception1", "correct horse battery")[1] != login


def test_a_server_login_is_never_derived_with_the_recovery_keys_cheap_kdf():
    with pytest.raises(StoreError, match="Argon2id"):
        keyfile.derive_server_secrets("x", b"\0" * 16, {"alg": "hkdf-sha256"})


# ---- on the real cluster ----------------------------------------------------------------------------
def test_a_desk_signs_in_over_verified_tls_with_scram_and_the_server_never_sees_the_unwrap_key(pg_db):
    pg_db.log_statements("all")
    address = connect.parse(url(pg_db.server, pg_db.dbname))
    login = f"{pg_db.role_prefix}desk"
    unwrap, login_password = connect.derive_login(address, login, "pm-password-1")
    make_login(pg_db, login, login_password)
    conn, got_unwrap = connect.connect_user(address, login, "pm-password-1")
    with conn:
        assert got_unwrap == unwrap
        assert conn.info.user == login and conn.pgconn.ssl_in_use
        ssl_row = conn.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
        assert ssl_row[0] is True and ssl_row[1] in ("TLSv1.2", "TLSv1.3")
        conn.execute("SELECT 1")
    with pg_db.admin() as admin:
        verifier = admin.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (login,)).fetchone()[0]
    assert verifier.startswith("SCRAM-SHA-256$")
    log = pg_db.server.log_text()
    assert f"connection authorized: user={login}" in log or f"{login}@{pg_db.dbname}" in log
    for secret in (login_password, unwrap.hex(), base64.b64encode(unwrap).decode(), "pm-password-1"):
        assert secret not in log


def test_a_wrong_password_is_a_wrong_password(pg_db):
    address = connect.parse(url(pg_db.server, pg_db.dbname))
    login = f"{pg_db.role_prefix}desk"
    make_login(pg_db, login, connect.derive_login(address, login, "right-password")[1])
    with pytest.raises(WrongPassword, match="user name or password is wrong"):
        connect.connect_user(address, login, "wrong-password")


def test_a_plaintext_connection_is_refused_by_the_server(pg_db):
    # Even a client that asks for no TLS at all gets nothing: pg_hba.conf has no 'host' line.
    login = f"{pg_db.role_prefix}desk"
    make_login(pg_db, login, "pw-plain-1")
    with pytest.raises(psycopg.OperationalError, match=r"no pg_hba.conf entry for host .* no encryption"):
        psycopg.connect(pg_db.conninfo(user=login, password="pw-plain-1", sslmode="disable", sslrootcert=None))
    # 'prefer' falls back to plaintext only if TLS fails; here it gets TLS, so it is the URL
    # check that stops it, before anything is sent.
    with pytest.raises(ServerRefused):
        connect.parse(url(pg_db.server, pg_db.dbname, sslmode="disable"))


def test_a_certificate_from_another_ca_is_refused_by_the_desk(pg_db, tmp_path):
    other_ca = tmp_path / "other-ca.crt"
    other_ca.write_bytes(pem_ca("an attacker's CA"))
    login = f"{pg_db.role_prefix}desk"
    make_login(pg_db, login, "pw-ca-1")
    address = connect.parse(url(pg_db.server, pg_db.dbname, ca=other_ca))
    with pytest.raises(ServerRefused, match=r"certificate that the practice's CA .* did not sign"):
        connect.connect(address, login, "pw-ca-1")
    assert connect.connect(connect.parse(url(pg_db.server, pg_db.dbname)), login, "pw-ca-1").close() is None


def test_a_certificate_for_another_host_name_is_refused_by_the_desk(pg_db):
    # The server's certificate names 'localhost' only; 127.0.0.1 is the same server under
    # another name, as a man in the middle would present it.
    login = f"{pg_db.role_prefix}desk"
    make_login(pg_db, login, "pw-host-1")
    address = connect.parse(url(pg_db.server, pg_db.dbname, host="127.0.0.1"))
    with pytest.raises(ServerRefused, match=r"not issued for the name 127.0.0.1"):
        connect.connect(address, login, "pw-host-1")


@pytest.mark.parametrize("libpq_has_require_auth", [True, False], ids=["require_auth", "channel_binding_only"])
@pytest.mark.parametrize("method", ["trust", "md5", "password"])
def test_a_server_asking_for_less_than_scram_is_refused_by_the_desk(pg_db, method, libpq_has_require_auth,
                                                                    monkeypatch):
    # pg_hba.conf lines for this test's own role put the server in the wrong; the desk refuses,
    # also with a libpq older than 16 (no require_auth), on channel_binding=require alone.
    monkeypatch.setattr(connect, "_libpq_has_require_auth", lambda: libpq_has_require_auth)
    server = pg_db.server
    login = f"{pg_db.role_prefix}{method}"
    make_login(pg_db, login, "pw-weak-1", encryption="md5" if method == "md5" else "scram-sha-256")

    def server_uses_the_weak_method() -> bool:
        # A client that demands exactly that method (libpq's require_auth; 'none' = trust).
        try:
            psycopg.connect(pg_db.conninfo(user=login, password="pw-weak-1",
                                           require_auth="none" if method == "trust" else method)).close()
            return True
        except psycopg.OperationalError:
            return False

    lines = [f"hostssl all {login} {net} {method}" for net in ("127.0.0.1/32", "::1/128")]
    address = connect.parse(url(server, pg_db.dbname))
    assert ("require_auth" in address.settings) is libpq_has_require_auth
    with hba_lines_first(server, lines, server_uses_the_weak_method):
        with pytest.raises(ServerRefused, match=r"weaker than SCRAM-SHA-256"):
            connect.connect(address, login, "pw-weak-1")
    # Back on the standard lines: the login signs in with SCRAM, except an md5 verifier, which
    # cannot answer a SCRAM exchange at all (so an old md5 password has to be set again).
    if method == "md5":
        with pytest.raises(WrongPassword):
            connect.connect(address, login, "pw-weak-1")
    else:
        connect.connect(address, login, "pw-weak-1").close()


def test_an_unreachable_server_says_nothing_was_saved(pg_server):
    from tests.server.cluster import free_port

    address = connect.parse(url(pg_server, "gp", port=free_port(), connect_timeout=3))
    with pytest.raises(ServerUnreachable, match=r"cannot be reached .* Nothing was saved"):
        connect.connect(address, "anyone", "anything")
