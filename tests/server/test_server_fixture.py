"""The test cluster itself: started by the tests, TLS + SCRAM only, a fresh database per test,
statements logged on request, and every test here carrying the ``server`` marker."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg
import pytest
from cryptography import x509

ROOT = Path(__file__).resolve().parents[2]


def test_cluster_runs_with_tls_scram_and_test_settings(pg_server):
    with pg_server.admin() as conn:
        settings = dict(conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN ('ssl', 'password_encryption', 'fsync', "
            "'full_page_writes', 'unix_socket_directories', 'listen_addresses')").fetchall())
        assert conn.info.port == pg_server.port and conn.info.host == pg_server.host == "localhost"
        # This very connection is encrypted and authenticated by SCRAM.
        assert conn.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()[0] is True
        assert conn.pgconn.used_password
        hba = conn.execute("SELECT type, auth_method FROM pg_hba_file_rules").fetchall()
        shadow = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = current_user").fetchone()[0]
    assert settings == {"ssl": "on", "password_encryption": "scram-sha-256", "fsync": "off",
                        "full_page_writes": "off", "unix_socket_directories": "", "listen_addresses": "localhost"}
    assert hba and set(hba) == {("hostssl", "scram-sha-256")}
    assert shadow.startswith("SCRAM-SHA-256$")
    assert (pg_server.bin_dir / "initdb").is_file() and pg_server.bin_dir.parent.parent.name == "postgresql"
    # The pinned CA really is the one that signed the server's certificate, issued for localhost.
    ca = x509.load_pem_x509_certificate(pg_server.ca_file.read_bytes())
    served = x509.load_pem_x509_certificate((pg_server.data_dir / "server.crt").read_bytes())
    served.verify_directly_issued_by(ca)
    assert served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName) == ["localhost"]


def test_server_processes_do_not_run_as_root(pg_server):
    with pg_server.admin() as conn:
        data_dir = conn.execute("SHOW data_directory").fetchone()[0]
    assert Path(data_dir).stat().st_uid != 0
    assert Path(data_dir).stat().st_mode & 0o077 == 0  # PostgreSQL insists on a private data folder


def test_each_test_gets_a_fresh_database_from_the_template(pg_db):
    with pg_db.admin() as conn:
        assert conn.info.dbname == pg_db.dbname
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0] == 0
        conn.execute("CREATE TABLE marker (x int)")
        conn.execute("INSERT INTO marker VALUES (1)")
    with pg_db.server.admin() as conn:
        row = conn.execute("SELECT datistemplate FROM pg_database WHERE datname = %s", (pg_db.dbname,)).fetchone()
        template = conn.execute("SELECT datistemplate, datallowconn FROM pg_database WHERE datname = %s",
                                (pg_db.server.template,)).fetchone()
    assert row == (False,) and template == (True, False)


def test_databases_and_prefixed_roles_are_dropped_after_each_test(pg_server):
    # What the pg_db fixture does, by hand: create, add a prefixed role, tear down.
    from tests.server.cluster import fresh_database

    with fresh_database(pg_server) as db:
        with db.admin() as conn:
            conn.execute(f'CREATE ROLE "{db.role_prefix}desk" LOGIN PASSWORD \'x-{db.dbname}\'')
            conn.execute(f'GRANT CONNECT ON DATABASE "{db.dbname}" TO "{db.role_prefix}desk"')
    with pg_server.admin() as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (db.dbname,)).fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s",
                            (f"{db.role_prefix}desk",)).fetchone()[0] == 0


def test_statement_log_on_request_records_statements_and_parameters(pg_db):
    marker = "ZZMARKERQQ"
    with psycopg.connect(pg_db.admin_conninfo, autocommit=True) as conn:
        conn.execute("SELECT %s::text AS quiet", (marker + "-before",))
    pg_db.log_statements("all")
    with psycopg.connect(pg_db.admin_conninfo, autocommit=True) as conn:
        conn.execute("SELECT %s::text AS logged", (marker + "-after",))
    log = pg_db.server.log_text()
    assert "SELECT $1::text AS logged" in log and f"{marker}-after" in log  # the bound value too
    assert f"{marker}-before" not in log


def test_no_plaintext_or_local_way_in(pg_server):
    # pg_hba has no 'host' line: a plaintext connection is turned away by the server itself.
    with pytest.raises(psycopg.OperationalError, match=r"no pg_hba.conf entry .*no encryption"):
        psycopg.connect(pg_server.conninfo(user=pg_server.superuser, password=pg_server.password,
                                           sslmode="disable", sslrootcert=None))
    # No Unix socket either (unix_socket_directories = ''): no peer/trust back door.
    assert not list(pg_server.base.rglob(".s.PGSQL.*"))


def test_every_test_here_has_the_server_marker_and_m_server_selects_exactly_them(tmp_path):
    # Collect the whole suite with -m server in a child pytest: only tests/server/ remains.
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "server",
                          "-p", "no:cacheprovider", "tests/server", "tests/domain"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    ids = [line for line in out.stdout.splitlines() if "::" in line]
    assert ids and all(i.startswith("tests/server/") for i in ids)
    assert any("test_server_fixture.py::test_cluster_runs_with_tls_scram_and_test_settings" in i for i in ids)
    assert re.search(r"\d+ deselected", out.stdout)


def test_a_skipped_server_test_fails_under_ci(tmp_path):
    # A throwaway test file under tests/server that skips: locally a visible skip, under CI a failure.
    # Its name does not match test_*.py, so only this run (which names it) collects it.
    probe = ROOT / "tests" / "server" / f"_probe_skip_{tmp_path.name}.py"
    probe.write_text(textwrap.dedent("""
        import pytest
        def test_probe():
            pytest.skip("PostgreSQL cannot start here: probe")
    """))
    try:
        def run(ci: str):
            env = {**__import__("os").environ, "CI": ci}
            return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(probe)],
                                  cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
        local, ci = run("false"), run("true")
    finally:
        probe.unlink()
    assert local.returncode == 0 and "1 skipped" in local.stdout and "PostgreSQL cannot start here: probe" in local.stdout
    assert ci.returncode == 1 and "1 failed" in ci.stdout
    assert "skipped under CI (CI=true), which is a failure" in ci.stdout


def test_a_port_taken_before_the_server_binds_it_is_replaced(monkeypatch):
    # Another process takes the chosen free port (on every loopback address) before PostgreSQL
    # binds it: the cluster picks another port instead of failing the whole server suite.
    import socket

    from tests.server import cluster as cluster_mod

    holders = []
    v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    v4.bind(("127.0.0.1", 0))
    v4.listen()
    holders.append(v4)
    busy = v4.getsockname()[1]
    try:
        v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        v6.bind(("::1", busy))
        v6.listen()
        holders.append(v6)
    except OSError:
        pass  # no IPv6 loopback here: PostgreSQL cannot bind ::1 either
    offered = iter([busy])
    real_free_port = cluster_mod.free_port
    monkeypatch.setattr(cluster_mod, "free_port", lambda: next(offered, None) or real_free_port())
    try:
        cluster = cluster_mod.Cluster().start()
        try:
            assert cluster.port != busy
            with cluster.admin() as conn:
                assert conn.execute("SELECT current_setting('port')::int").fetchone()[0] == cluster.port
            assert "could not create any TCP/IP sockets" in cluster.log_text()
        finally:
            cluster.stop()
    finally:
        for s in holders:
            s.close()
