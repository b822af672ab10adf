"""Connecting a desk to a server register on PostgreSQL.

Where: ``--database postgresql://HOST[:PORT]/DBNAME?sslrootcert=/path/ca.crt`` or the same URL
in GP_OPTOUT_DATABASE (the CA may instead come from GP_OPTOUT_DATABASE_CA). A register folder
stays the default when neither is given.

How, always, whatever the URL says:
- TLS with ``sslmode=verify-full`` against a pinned CA (``sslrootcert``, a file; never the
  system store): the server's certificate must be signed by that CA and name the host. A URL
  asking for anything weaker is refused with a clear message, before any connection is tried.
- SCRAM-SHA-256 only (``require_auth=scram-sha-256``, plus ``channel_binding=require``, which
  only SCRAM can satisfy), so a server asking for md5, a cleartext password or trust is refused
  by the desk, and the TLS channel is bound to the sign-in.
- The login password is never the user's password: one Argon2id run gives the key that
  unwraps the user's key slot and, under a separate HKDF label, the database password
  (keyfile.derive_server_secrets). The server sees only the latter's SCRAM exchange.
  Its salt must be known before signing in, so it is derived from the database name and the
  login name (as Bitwarden salts with the account name).
- No password, service file or unknown parameter in the URL: only the parameters listed in
  ALLOWED_PARAMS, so nothing can quietly switch a check off.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ServerRefused, ServerUnreachable, StoreError, WrongPassword

ENV = "GP_OPTOUT_DATABASE"
CA_ENV = "GP_OPTOUT_DATABASE_CA"
SCHEMES = ("postgresql://", "postgres://")
LOGIN_SALT_LABEL = b"gp-optout server v1 login salt"
# libpq 16 added require_auth; psycopg's binary wheel bundles a newer libpq (18 at 3.3.9).
REQUIRE_AUTH_LIBPQ = 160000
ALLOWED_PARAMS = frozenset({
    "host", "hostaddr", "port", "dbname", "user", "sslmode", "sslrootcert", "sslcrl", "sslcrldir",
    "sslcert", "sslkey", "require_auth", "channel_binding", "connect_timeout", "application_name",
    "target_session_attrs", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
    "tcp_user_timeout",
})
# What the desk always sets, over anything in the URL (which may only repeat these values).
ENFORCED = {"sslmode": "verify-full", "require_auth": "scram-sha-256", "channel_binding": "require",
            "gssencmode": "disable"}


@dataclass(frozen=True)
class ServerAddress:
    """A parsed, checked server address: conninfo parameters without user or password."""

    params: tuple[tuple[str, str], ...]

    @property
    def settings(self) -> dict[str, str]:
        return dict(self.params)

    @property
    def dbname(self) -> str:
        return self.settings["dbname"]

    def describe(self) -> str:
        """host:port/dbname for messages (no secrets in an address)."""
        s = self.settings
        return f"{s['host']}:{s.get('port', '5432')}/{s['dbname']}"

    def conninfo(self, *, user: str, password: str) -> str:
        from psycopg.conninfo import make_conninfo

        return make_conninfo(**self.settings, user=user, password=password)


def database_url(arg: str | None = None) -> str | None:
    """The server URL from --database, else GP_OPTOUT_DATABASE; None means a register folder."""
    return arg or os.environ.get(ENV) or None


def parse(url: str) -> ServerAddress:
    """Check a postgresql:// URL and return the address to connect to, or raise ServerRefused
    (a security setting that cannot be honoured) / StoreError (a malformed address)."""
    if not isinstance(url, str) or not url.startswith(SCHEMES):
        raise StoreError("A server register's address starts with postgresql:// (for example "
                         "postgresql://db.practice.nhs.uk/gpoptout?sslrootcert=/etc/gp-optout/ca.crt).")
    _require_psycopg()
    from psycopg.conninfo import conninfo_to_dict

    try:
        given = {k: str(v) for k, v in conninfo_to_dict(url).items()}
    except Exception as exc:  # psycopg.ProgrammingError: libpq's own parse message
        raise StoreError(f"The server address cannot be read: {_first_line(exc)}") from None
    if "password" in given or "passfile" in given:
        raise ServerRefused("The server address must not contain a password: the desk derives its database "
                            "login from the user's own password. Remove it from the address.")
    for name, value in ENFORCED.items():
        if name in given and given[name] != value:
            raise ServerRefused(f"The server address asks for {name}={given[name]}; a server register is only "
                                f"reached with {name}={value} (TLS with the server's certificate checked against "
                                "the practice's CA, and SCRAM sign-in). Remove that setting from the address.")
    unknown = sorted(set(given) - ALLOWED_PARAMS - set(ENFORCED))
    if unknown:
        raise ServerRefused(f"The server address has settings this program does not accept: {', '.join(unknown)}. "
                            f"Allowed: {', '.join(sorted(ALLOWED_PARAMS))}.")
    if not given.get("host"):
        raise StoreError("The server address has no host name (postgresql://HOST/DATABASE).")
    if not given.get("dbname"):
        raise StoreError("The server address has no database name (postgresql://HOST/DATABASE).")
    ca = given.get("sslrootcert") or os.environ.get(CA_ENV, "")
    if not ca or ca == "system":
        raise ServerRefused("The server address needs the practice's CA certificate, pinned: add "
                            f"?sslrootcert=/path/to/ca.crt to the address, or set {CA_ENV}. The computer's "
                            "general certificate store is not used for a server register.")
    if not Path(ca).is_file():
        raise StoreError(f"The CA certificate {ca} named for the server register does not exist.")
    given["sslrootcert"] = str(Path(ca).resolve())
    given.update(ENFORCED)
    given.setdefault("connect_timeout", "10")
    given.setdefault("application_name", "gp-optout-desktop")
    if not _libpq_has_require_auth():
        del given["require_auth"]  # older libpq: channel_binding=require still refuses all but SCRAM
    given.pop("user", None)  # the login is the signed-in user's, given at connect
    return ServerAddress(tuple(sorted(given.items())))


def address_from(arg: str | None = None) -> ServerAddress | None:
    """--database / GP_OPTOUT_DATABASE parsed and checked, or None for a register folder."""
    url = database_url(arg)
    return parse(url) if url else None


def login_salt(address: ServerAddress, login: str) -> bytes:
    """The Argon2id salt for this login on this database: known before signing in (the key
    slots live on the server, behind the sign-in), unique per database and login."""
    data = LOGIN_SALT_LABEL + b"|" + address.dbname.encode("utf-8") + b"|" + login.encode("utf-8")
    return hashlib.sha256(data).digest()[:16]


def derive_login(address: ServerAddress, login: str, password: str, kdf: dict | None = None) -> tuple[bytes, str]:
    """(key-slot unwrap key, database login password) from one Argon2id run."""
    from .. import keyfile

    return keyfile.derive_server_secrets(password, login_salt(address, login), dict(kdf or keyfile.SERVER_KDF))


def connect(address: ServerAddress, login: str, login_password: str, **kwargs):
    """A psycopg connection as ``login``, over TLS verify-full with SCRAM. Raises ServerRefused
    (certificate or sign-in method not acceptable), WrongPassword, ServerUnreachable or StoreError."""
    _require_psycopg()
    import psycopg

    try:
        conn = psycopg.connect(address.conninfo(user=login, password=login_password), **kwargs)
    except psycopg.OperationalError as exc:
        raise explain(exc, address, login) from None
    if not conn.pgconn.ssl_in_use:  # cannot happen under verify-full; checked, not assumed
        conn.close()
        raise ServerRefused(f"The connection to {address.describe()} is not encrypted; refused.")
    return conn


def connect_user(address: ServerAddress, login: str, password: str, *, kdf: dict | None = None, **kwargs):
    """Sign in with the user's own password: returns (connection, key-slot unwrap key). The
    unwrap key stays on this desk; only the derived login password takes part in SCRAM."""
    unwrap, login_password = derive_login(address, login, password, kdf)
    return connect(address, login, login_password, **kwargs), unwrap


def explain(exc: Exception, address: ServerAddress, login: str) -> StoreError:
    """libpq's connection failure as a sentence the user (or their IT supplier) can act on."""
    text = str(exc)
    where = address.describe()
    low = text.lower()
    if "certificate verify failed" in low or "root certificate file" in low:
        return ServerRefused(f"The server {where} presented a certificate that the practice's CA "
                             f"({address.settings['sslrootcert']}) did not sign: refusing to connect. Nothing was "
                             "sent. Ask your IT supplier to check the server's certificate and the CA file.")
    if "does not match host name" in low:
        return ServerRefused(f"The server's certificate is not issued for the name {address.settings['host']}: "
                             "refusing to connect. Nothing was sent. Use the host name on the server's certificate.")
    if "authentication method requirement" in low or "channel binding required" in low \
            or "server requested a cleartext password" in low or "server does not support channel binding" in low:
        return ServerRefused(f"The server {where} asked for a sign-in weaker than SCRAM-SHA-256 with channel "
                             "binding: refusing to sign in. Nothing was sent. Ask your IT supplier to use "
                             "'hostssl ... scram-sha-256' lines only (docs/server-setup.md).")
    if "no pg_hba.conf entry" in low:
        return ServerRefused(f"The server {where} does not accept this login ({login}) from this computer. "
                             "Ask your IT supplier to check the server's pg_hba.conf (docs/server-setup.md).")
    if "password authentication failed" in low:
        return WrongPassword("The server refused the sign-in: the user name or password is wrong.")
    if "does not exist" in low and "database" in low:
        return StoreError(f"The database named in the address ({address.dbname}) does not exist on the server.")
    if any(s in low for s in ("could not connect", "connection refused", "timeout expired", "timed out",
                              "could not translate host name", "no route to host", "network is unreachable",
                              "server closed the connection", "the database system is")):
        return ServerUnreachable(f"The server {where} cannot be reached ({_first_line(exc)}). Nothing was saved. "
                                 "Check the network, or ask your IT supplier whether the server is running.")
    return StoreError(f"Could not connect to the server {where}: {_first_line(exc)}")


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:300]


def _libpq_has_require_auth() -> bool:
    import psycopg

    return psycopg.pq.version() >= REQUIRE_AUTH_LIBPQ


def _require_psycopg() -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise StoreError("Server mode needs the psycopg package: install gp-optout-desktop[server].") from None
