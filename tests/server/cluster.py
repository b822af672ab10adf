"""A throwaway PostgreSQL cluster for the server-mode tests and benchmarks.

Started from the Debian package's programs (/usr/lib/postgresql/<version>/bin) in a temporary
folder, on a free loopback port, configured the way docs/server-setup.md tells a practice's IT
supplier to configure theirs, minus durability:
- TLS on, with a test CA and a server certificate for DNS name ``localhost`` only (so
  connecting to 127.0.0.1 under verify-full is a hostname mismatch, which a test relies on);
- pg_hba.conf has ONLY ``hostssl ... scram-sha-256`` lines, and no Unix socket at all: even
  the superuser bootstraps over TLS with a SCRAM password set by initdb (--pwfile);
- password_encryption = scram-sha-256;
- fsync, full_page_writes and synchronous_commit off (a test cluster loses nothing that matters).

initdb and postgres refuse to run as root, so under root (CI) the cluster's files belong to
``nobody`` and its programs run as that user (subprocess's user=/group=).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import itertools
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

STATEMENT_LOG_LEVELS = ("none", "ddl", "mod", "all")


class ClusterUnavailable(Exception):
    """PostgreSQL cannot be started here; the message says why and what to do."""


def find_bin_dir() -> Path:
    """The newest PostgreSQL server's programs: GP_OPTOUT_PG_BIN if set, else Debian's layout."""
    override = os.environ.get("GP_OPTOUT_PG_BIN")
    candidates = [Path(override)] if override else sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in re.split(r"\D+", p.parent.name)], reverse=True)
    for bin_dir in candidates:
        if all((bin_dir / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return bin_dir
    raise ClusterUnavailable(
        "PostgreSQL's server programs are not installed (no /usr/lib/postgresql/*/bin/initdb): "
        "run scripts/run-tests as root once (it installs the Debian package 'postgresql'), or "
        "apt-get install postgresql, or point GP_OPTOUT_PG_BIN at a bin folder with initdb and pg_ctl")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_ca(common_name: str):
    """A self-signed CA: (certificate, private key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return cert, key


def pem_ca(common_name: str) -> bytes:
    """A fresh CA's certificate, PEM: one that signed nothing this cluster serves."""
    return pem_cert(make_ca(common_name)[0])


def make_server_cert(ca_cert, ca_key, dns_name: str = "localhost"):
    """A server certificate for ``dns_name`` (CN and the only SAN), signed by the CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_name)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert, key


def pem_cert(cert) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def pem_key(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _temp_root() -> str:
    """Where the cluster's folder goes: the usual temporary folder, unless the server (run as
    ``nobody`` under root) could not reach it through its parents; then /tmp."""
    root = tempfile.gettempdir()
    if os.geteuid() != 0:
        return root
    path = Path(root).resolve()
    if all(p.stat().st_mode & 0o001 for p in [path, *path.parents]):
        return root
    return "/tmp"


class Cluster:
    """One running cluster. ``start()`` then ``stop()``; see the module docstring."""

    host = "localhost"
    superuser = "postgres"
    template = "gp_optout_template"

    def __init__(self, *, log_statement: str | None = None, bin_dir: Path | None = None, durable: bool = False):
        level = log_statement or os.environ.get("GP_OPTOUT_PG_LOG_STATEMENT", "none")
        if level not in STATEMENT_LOG_LEVELS:
            raise ValueError(f"log_statement must be one of {STATEMENT_LOG_LEVELS}, not {level!r}")
        self.log_statement = level
        self.durable = durable  # benchmarks: fsync, full_page_writes and synchronous_commit as shipped (on)
        self.bin_dir = Path(bin_dir) if bin_dir else find_bin_dir()
        self.base: Path | None = None
        self.port = 0
        self.password = secrets.token_urlsafe(24)
        self._run_as: dict = {}

    # ---- paths ----------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    @property
    def ca_file(self) -> Path:
        """The CA that signed the server's certificate: clients pin it (sslrootcert)."""
        return self.base / "ca.crt"

    @property
    def log_file(self) -> Path:
        """The server's log, with every statement when log_statement is 'all'."""
        return self.base / "server.log"

    def log_text(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace")

    # ---- connecting -------------------------------------------------------------
    def conninfo(self, *, dbname: str = "postgres", user: str, password: str, **extra) -> str:
        """A libpq conninfo string: TLS verify-full against the pinned test CA, SCRAM only."""
        from psycopg.conninfo import make_conninfo

        params = {"host": self.host, "port": self.port, "dbname": dbname, "user": user, "password": password,
                  "sslmode": "verify-full", "sslrootcert": str(self.ca_file), "connect_timeout": 10}
        params.update(extra)
        return make_conninfo(**{k: v for k, v in params.items() if v is not None})

    def admin_conninfo(self, dbname: str = "postgres") -> str:
        """The superuser, over TLS verify-full with SCRAM (there is no other way in)."""
        return self.conninfo(dbname=dbname, user=self.superuser, password=self.password)

    def admin(self, dbname: str = "postgres"):
        import psycopg

        return psycopg.connect(self.admin_conninfo(dbname), autocommit=True)

    # ---- life cycle ---------------------------------------------------------------
    def _prepare_user(self) -> None:
        if os.geteuid() != 0:
            return
        try:
            nobody = pwd.getpwnam("nobody")
        except KeyError:
            raise ClusterUnavailable("running as root, and there is no 'nobody' user to run PostgreSQL as "
                                     "(initdb refuses root)") from None
        self._run_as = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
        for path in [self.base, *self.base.rglob("*")]:
            os.chown(path, nobody.pw_uid, nobody.pw_gid)

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run([str(a) for a in args], cwd=self.base, capture_output=True, text=True,
                                timeout=timeout, **self._run_as)
        if result.returncode != 0:
            raise ClusterUnavailable(f"{Path(args[0]).name} failed ({result.returncode}): "
                                     f"{(result.stderr or result.stdout).strip()[-1500:]}")
        return result

    def start(self) -> "Cluster":
        self.base = Path(tempfile.mkdtemp(prefix="gp-optout-pg-", dir=_temp_root()))
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.base.chmod(0o755)  # root (the tests) reads the log and the CA; the data folder stays 0700
        pwfile = self.base / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        self._prepare_user()
        self._run(self.bin_dir / "initdb", "-N", "-D", self.data_dir, "-U", self.superuser, "--pwfile", pwfile,
                  "--auth=scram-sha-256", "-E", "UTF8", "--locale=C")
        pwfile.unlink()

        ca_cert, ca_key = make_ca("gp-optout test CA")
        cert, key = make_server_cert(ca_cert, ca_key, self.host)
        self.ca_file.write_bytes(pem_cert(ca_cert))
        (self.data_dir / "server.crt").write_bytes(pem_cert(cert))
        server_key = self.data_dir / "server.key"
        server_key.write_bytes(pem_key(key))
        server_key.chmod(0o600)
        (self.data_dir / "pg_hba.conf").write_text(
            "# TLS with a SCRAM password, and nothing else: no plaintext host line, no local socket.\n"
            "hostssl all all 127.0.0.1/32 scram-sha-256\n"
            "hostssl all all ::1/128 scram-sha-256\n"
            "hostssl replication postgres 127.0.0.1/32 scram-sha-256\n"  # pg_basebackup (the backup test)
            "hostssl replication postgres ::1/128 scram-sha-256\n")
        self.port = free_port()
        with open(self.data_dir / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(
                "\n# gp-optout test cluster\n"
                f"listen_addresses = 'localhost'\nport = {self.port}\nunix_socket_directories = ''\n"
                "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n"
                "ssl_min_protocol_version = 'TLSv1.2'\npassword_encryption = 'scram-sha-256'\n"
                + ("" if self.durable else "fsync = off\nfull_page_writes = off\nsynchronous_commit = off\n") +
                "max_connections = 120\n"
                f"log_statement = '{self.log_statement}'\nlog_line_prefix = '%m [%p] %q%u@%d '\n"
                "log_connections = on\nlog_min_messages = warning\n")
        if self._run_as:
            for path in [self.data_dir, *self.data_dir.rglob("*")]:
                os.chown(path, self._run_as["user"], self._run_as["group"])
        for attempt in range(3):
            try:
                self._run(self.bin_dir / "pg_ctl", "start", "-w", "-t", "60", "-D", self.data_dir, "-l", self.log_file)
                break
            except ClusterUnavailable:
                # The free port was taken between choosing it and binding it: another one (the
                # last 'port' line in postgresql.conf wins).
                if attempt == 2 or "could not create any TCP/IP sockets" not in self.log_text():
                    raise
                self.port = free_port()
                with open(self.data_dir / "postgresql.conf", "a", encoding="utf-8") as conf:
                    conf.write(f"port = {self.port}\n")
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{self.template}"')
            conn.execute(f'ALTER DATABASE "{self.template}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false')

    def halt(self) -> None:
        """Stop the server but keep its files (an outage); ``resume()`` starts it again."""
        self._run(self.bin_dir / "pg_ctl", "stop", "-m", "fast", "-w", "-D", self.data_dir)

    def resume(self) -> None:
        self._run(self.bin_dir / "pg_ctl", "start", "-w", "-t", "60", "-D", self.data_dir, "-l", self.log_file)

    def stop(self) -> None:
        if self.base is None:
            return
        if (self.data_dir / "postmaster.pid").exists():
            subprocess.run([str(self.bin_dir / "pg_ctl"), "stop", "-m", "immediate", "-w", "-D", str(self.data_dir)],
                           cwd=self.base, capture_output=True, timeout=60, **self._run_as)
        shutil.rmtree(self.base, ignore_errors=True)
        self.base = None



class PgDatabase:
    """One test's database on a cluster."""

    def __init__(self, server: Cluster, dbname: str):
        self.server = server
        self.dbname = dbname
        # Roles are cluster-wide: a test names the roles it creates with this prefix, so
        # tests cannot collide, and they are dropped with the database.
        self.role_prefix = f"{dbname}_"

    @property
    def admin_conninfo(self) -> str:
        return self.server.admin_conninfo(self.dbname)

    def admin(self):
        """An autocommit superuser connection to this database (over TLS + SCRAM)."""
        return self.server.admin(self.dbname)

    def conninfo(self, *, user: str, password: str, **extra) -> str:
        return self.server.conninfo(dbname=self.dbname, user=user, password=password, **extra)

    def log_statements(self, level: str = "all") -> None:
        """Log the statements (with their bound parameters) of later sessions on this database
        to the server log (``server.log_file``). Set per database, so it holds from the next
        connection on, with no reload race."""
        if level not in STATEMENT_LOG_LEVELS:
            raise ValueError(f"log_statement must be one of {STATEMENT_LOG_LEVELS}, not {level!r}")
        with self.server.admin() as conn:
            conn.execute(f'ALTER DATABASE "{self.dbname}" SET log_statement = \'{level}\'')


_counter = itertools.count(1)


@contextlib.contextmanager
def fresh_database(server: Cluster):
    """A new database copied from the cluster's template; dropped on exit, with its prefixed roles."""
    dbname = f"t{next(_counter)}_{secrets.token_hex(3)}"
    with server.admin() as conn:
        conn.execute(f'CREATE DATABASE "{dbname}" TEMPLATE "{server.template}"')
    db = PgDatabase(server, dbname)
    try:
        yield db
    finally:
        with server.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            roles = [r for (r,) in conn.execute("SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s)",
                                                (db.role_prefix,))]
            for role in roles:
                conn.execute(f'DROP ROLE "{role}"')
