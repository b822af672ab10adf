"""Server-mode commands for the `gp-optout` CLI, for the server's administrator (a practice's
IT supplier or the federation's DBA), never for a desk user:

    gp-optout server init --database URL [--admin-user NAME] [--admin-password-file FILE]
    gp-optout server add-practice --database URL --name NAME
    gp-optout server add-desk --database URL --practice ID --login NAME [--desk-password-file FILE]
    gp-optout server set-desk-password --database URL --login NAME [--desk-password-file FILE]

URL is ``postgresql://HOST[:PORT]/DBNAME?sslrootcert=/path/ca.crt`` (or GP_OPTOUT_DATABASE); the
administrator connects like a desk does (store/server/connect.py): TLS verify-full against the
pinned CA and SCRAM, nothing weaker. Their own PostgreSQL password comes from
--admin-password-file, GP_OPTOUT_SERVER_ADMIN_PASSWORD or a prompt; it is never an argument.
docs/server-setup.md walks through the whole set-up.
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

from .domain.errors import ValidationError
from .store.errors import ServerRefused

ADMIN_PASSWORD_ENV = "GP_OPTOUT_SERVER_ADMIN_PASSWORD"


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("server", help="set up a server register on PostgreSQL (the server's administrator)",
                              description="For the server's administrator: create the register's schema, roles "
                              "and row-level security on a PostgreSQL database, add practices and desk logins. "
                              "See docs/server-setup.md.")
    ssub = p.add_subparsers(dest="server_cmd", required=True, metavar="SERVER_COMMAND")

    def common(q):
        q.add_argument("--database", dest="server_database", metavar="URL",
                       help="postgresql://HOST[:PORT]/DBNAME?sslrootcert=CA.crt (default: GP_OPTOUT_DATABASE)")
        q.add_argument("--admin-user", default="postgres", metavar="NAME",
                       help="a PostgreSQL role allowed to create roles and the schema (default postgres)")
        q.add_argument("--admin-password-file", metavar="FILE",
                       help=f"read that role's password from this file (else {ADMIN_PASSWORD_ENV} or a prompt)")

    q = ssub.add_parser("init", help="create or upgrade the schema, roles and row-level security (idempotent)")
    common(q)
    q.set_defaults(func=run_init)

    q = ssub.add_parser("add-practice", help="add a practice (its own audit chain and keys); prints its id")
    common(q)
    q.add_argument("--name", required=True, help="the practice's name, for the administrator's lists")
    q.set_defaults(func=run_add_practice)

    q = ssub.add_parser("add-desk", help="add a desk login for one practice (a member of the desk role only)")
    common(q)
    q.add_argument("--practice", required=True, type=int, metavar="ID", help="the practice's id (add-practice)")
    q.add_argument("--login", required=True, help="3-63 lower-case letters, digits or _, starting with a letter")
    q.add_argument("--desk-password-file", metavar="FILE",
                   help="the desk's password (else a prompt); only a login derived from it reaches the server")
    q.set_defaults(func=run_add_desk)

    q = ssub.add_parser("set-desk-password", help="give a desk login the temporary password its practice manager "
                        "made when resetting that user's password")
    common(q)
    q.add_argument("--login", required=True, help="the desk login (the user's name on the server)")
    q.add_argument("--desk-password-file", metavar="FILE",
                   help="the temporary password (else a prompt); only a login derived from it reaches the server")
    q.set_defaults(func=run_set_desk_password)


def _address(ctx):
    from .store.server import connect

    url = connect.database_url(ctx.args.server_database or getattr(ctx.args, "database", None))
    if not url:
        raise ValidationError("Say which server with --database postgresql://HOST/DBNAME?sslrootcert=CA.crt "
                              "(or GP_OPTOUT_DATABASE).")
    return connect.parse(url)


def _secret(path: str | None, env: str | None, prompt: str, what: str) -> str:
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise ValidationError(f"The {what} file {Path(path).name} is not UTF-8 text.") from None
        if not text:
            raise ValidationError(f"The {what} file {Path(path).name} is empty.")
        return text
    if env and os.environ.get(env):
        return os.environ[env]
    if not sys.stdin.isatty():
        raise ValidationError(f"No {what} given: use a terminal or the --{what.replace(' ', '-')}-file option.")
    return getpass.getpass(prompt)


def _admin(ctx):
    """(address, connection) for the administrator, over TLS verify-full with SCRAM."""
    from .services.server_throttle import throttled
    from .store.server import connect

    address = _address(ctx)
    password = _secret(ctx.args.admin_password_file, ADMIN_PASSWORD_ENV,
                       f"PostgreSQL password for {ctx.args.admin_user}: ", "admin password")
    # The administrator's login too: one count on this computer for every sign-in to a server.
    return address, throttled(connect.connect)(address, ctx.args.admin_user, password)


def _refusing(func):
    """A security refusal (certificate, sign-in method) exits as 'refused' (3), like a wrong password."""
    def run(ctx) -> int:
        try:
            return func(ctx)
        except ServerRefused as exc:
            raise PermissionError(str(exc)) from None
    return run


@_refusing
def run_init(ctx) -> int:
    from .store.server import schema

    address, conn = _admin(ctx)
    with conn:
        before = schema.version(conn)
        after = schema.init_server(conn)
    what = "already at" if before == after else (f"upgraded from version {before} to" if before else "created at")
    ctx.out(f"Server register on {address.describe()}: schema {what} version {after}; tables owned by "
            f"{schema.OWNER} (no login), row-level security forced on every table, desk logins are members "
            f"of {schema.DESK}.")
    if not before:
        ctx.out("Next: gp-optout server add-practice, then gp-optout server add-desk for each desk.")
    return 0


@_refusing
def run_add_practice(ctx) -> int:
    from .store.server import schema

    name = ctx.args.name.strip()
    if not name:
        raise ValidationError("A practice needs a name.")
    address, conn = _admin(ctx)
    with conn:
        schema.check_version(conn)
        practice_id = schema.add_practice(conn, name)
    ctx.out(f"Added practice {practice_id} on {address.describe()}.")
    return 0


def _desk_login(ctx, change) -> tuple:
    """The administrator's connection, then the desk's password (a prompt or file) turned into
    its derived login password: the server stores a SCRAM verifier of that, never the typed
    password. Returns (address, what ``change(conn, login_password)`` returned)."""
    from .store.server import connect, schema

    address, conn = _admin(ctx)
    with conn:
        schema.check_version(conn)
        password = _secret(ctx.args.desk_password_file, None, f"Password for desk login {ctx.args.login}: ",
                           "desk password")
        _unwrap, login_password = connect.derive_login(address, ctx.args.login, password)
        return address, change(conn, login_password)


@_refusing
def run_add_desk(ctx) -> int:
    from .store.server import schema

    address, _ = _desk_login(ctx, lambda conn, pw: schema.add_desk_login(conn, ctx.args.practice, ctx.args.login, pw))
    ctx.out(f"Added desk login {ctx.args.login} for practice {ctx.args.practice} on {address.describe()}.")
    return 0


@_refusing
def run_set_desk_password(ctx) -> int:
    from .store.server import schema

    address, practice_id = _desk_login(ctx, lambda conn, pw: schema.set_desk_password(conn, ctx.args.login, pw))
    ctx.out(f"Set the password of desk login {ctx.args.login} (practice {practice_id}) on {address.describe()}. "
            "Its user signs in with that temporary password and must then choose their own.")
    return 0
