"""docs/server-setup.md does what it says, on the real test cluster: its openssl commands make a
CA and server certificate that the server serves and a desk verifies (verify-full, pinned CA);
its pg_hba.conf has only TLS + SCRAM lines; its postgresql.conf security settings are the test
cluster's; its gp-optout commands and desk addresses are accepted as written; its WAL archive
script copies a WAL file and never overwrites one."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from cryptography import x509

from gp_optout_desktop import cli
from gp_optout_desktop.store.server import connect

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "server-setup.md"
DOC_HOST = "db.practice.example"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def block_with(lang: str, text: str) -> str:
    (found,) = [b for b in blocks(lang) if text in b]
    return found


def test_the_documented_certificates_are_served_and_verified(pg_server, tmp_path):
    if not subprocess.run(["sh", "-c", "command -v openssl"], capture_output=True).returncode == 0:
        pytest.fail("openssl is needed to check the documented certificate commands")
    script = block_with("sh", "openssl req -x509").replace(DOC_HOST, pg_server.host)
    done = subprocess.run(["sh", "-ec", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    ca = x509.load_pem_x509_certificate((tmp_path / "register-ca.crt").read_bytes())
    cert = x509.load_pem_x509_certificate((tmp_path / "server.crt").read_bytes())
    cert.verify_directly_issued_by(ca)
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName) == [pg_server.host]

    # Serve them from the test cluster, as the guide says (owned by the server's user, key 0600), reload.
    data = pg_server.data_dir
    saved = {name: (data / name).read_bytes() for name in ("server.crt", "server.key")}
    owner = (data / "server.key").stat()
    doc_address = connect.parse(f"postgresql://{pg_server.host}:{pg_server.port}/postgres"
                                f"?sslrootcert={tmp_path / 'register-ca.crt'}")
    test_address = connect.parse(f"postgresql://{pg_server.host}:{pg_server.port}/postgres"
                                 f"?sslrootcert={pg_server.ca_file}")

    def serves(address) -> bool:
        try:
            connect.connect(address, pg_server.superuser, pg_server.password).close()
            return True
        except connect.ServerRefused:
            return False

    def install(files: dict[str, bytes], served_ca: Path) -> None:
        for name, content in files.items():
            (data / name).write_bytes(content)
            os.chown(data / name, owner.st_uid, owner.st_gid)
            (data / name).chmod(0o600)
        # Reload through a connection that trusts the certificate served until now.
        with psycopg.connect(pg_server.conninfo(user=pg_server.superuser, password=pg_server.password,
                                                sslrootcert=str(served_ca)), autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")

    def wait_for(address) -> None:
        deadline = time.monotonic() + 10
        while not serves(address):
            assert time.monotonic() < deadline, "the server did not pick up the certificate"
            time.sleep(0.05)

    try:
        install({name: (tmp_path / name).read_bytes() for name in saved}, pg_server.ca_file)
        wait_for(doc_address)
        assert not serves(test_address)  # the old CA no longer verifies it: the pin is real
    finally:
        install(saved, tmp_path / "register-ca.crt")
        wait_for(test_address)


def test_the_documented_pg_hba_has_only_tls_scram_lines_as_the_test_cluster(pg_server):
    rules = [line.split("#")[0].split() for line in block_with("conf", "hostssl").splitlines()]
    rules = [r for r in rules if r]
    assert rules and all(r[0] == "hostssl" and r[-1] == "scram-sha-256" for r in rules if r[0] != "local")
    assert [r for r in rules if r[0] == "local"] == [["local", "all", "postgres", "peer"],
                                                      ["local", "replication", "postgres", "peer"]]
    with pg_server.admin() as conn:
        served = conn.execute("SELECT type, auth_method FROM pg_hba_file_rules").fetchall()
    assert set(served) == {("hostssl", "scram-sha-256")}


def test_the_documented_security_settings_are_the_test_clusters(pg_server):
    settings = {}
    for line in block_with("conf", "password_encryption").splitlines():
        key, _, value = line.split("#")[0].partition("=")
        if value.strip():
            settings[key.strip()] = value.strip().strip("'")
    names = ("ssl", "password_encryption", "ssl_min_protocol_version", "ssl_cert_file", "ssl_key_file")
    with pg_server.admin() as conn:
        served = dict(conn.execute("SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                                   (list(names),)).fetchall())
    assert {n: settings[n] for n in names} == served
    assert settings["archive_mode"] == "on" and settings["wal_level"] == "replica"


def test_the_documented_commands_and_addresses_are_accepted(pg_server, monkeypatch):
    monkeypatch.setenv(connect.CA_ENV, "")
    text = DOC.read_text(encoding="utf-8")
    urls = re.findall(r"'(postgresql://[^']+)'", text)
    assert len(urls) >= 2
    for url in urls:
        # The documented CA paths are the supplier's; point them at a real file here.
        checked = connect.parse(re.sub(r"sslrootcert=[^&']+", f"sslrootcert={pg_server.ca_file}", url))
        assert checked.settings["sslmode"] == "verify-full" and checked.dbname == "gpoptout"
    parser = cli.build_parser()
    commands = [line.split("#")[0] for line in block_with("sh", "gp-optout server init").splitlines()
                if line.startswith("gp-optout ")]
    assert [c.split()[2] for c in commands] == ["init", "add-practice", "add-desk"]
    for command in commands:
        args = parser.parse_args(shlex.split(command)[1:])
        assert args.command == "server" and callable(args.func)


def test_the_documented_wal_archive_script_copies_and_never_overwrites(tmp_path):
    archive = tmp_path / "wal-archive"
    archive.mkdir()
    script = tmp_path / "archive-wal"
    script.write_text(block_with("sh", "archive-wal %p %f").replace("/srv/wal-archive", str(archive)))
    script.chmod(0o755)
    wal = tmp_path / "000000010000000000000001"
    wal.write_bytes(os.urandom(4096))
    assert subprocess.run([str(script), str(wal), wal.name], capture_output=True).returncode == 0
    assert (archive / wal.name).read_bytes() == wal.read_bytes()
    first = wal.read_bytes()
    wal.write_bytes(os.urandom(4096))  # a different file under the same name: refused, archive unchanged
    assert subprocess.run([str(script), str(wal), wal.name], capture_output=True).returncode != 0
    assert (archive / wal.name).read_bytes() == first
    assert not list(archive.glob("*.tmp"))


def test_the_documented_base_backup_command_backs_up_the_test_cluster(pg_server, tmp_path):
    # Over TLS + SCRAM as the superuser (the test cluster has no local socket), with the
    # documented options; the result is a compressed tar base backup with its WAL and a manifest.
    command = next(line for line in block_with("sh", "pg_basebackup").splitlines() if "pg_basebackup" in line)
    args = shlex.split(command.split("sudo -u postgres ", 1)[1].replace("$(date +%F)", "2026-12-01"))
    target = tmp_path / "base"
    args[args.index("-D") + 1] = str(target)
    args = [a for a in args if a != "-P"]  # no progress bar in a test log
    conninfo = pg_server.admin_conninfo()
    env = {**os.environ, "PGPASSWORD": pg_server.password}
    done = subprocess.run([str(pg_server.bin_dir / args[0]), *args[1:], "-d", conninfo],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert (target / "base.tar.gz").exists() and (target / "pg_wal.tar.gz").exists()
    assert (target / "backup_manifest").exists()
    with psycopg.connect(conninfo) as conn:  # the cluster is unharmed
        assert conn.execute("SELECT 1").fetchone() == (1,)
