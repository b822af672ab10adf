"""Moving a register file onto the server, for the practice manager (issue 15 item 6):

    gp-optout migrate-to-server --database URL --login DESKLOGIN [--server-password-file FILE]
                                [--login-prefix PREFIX] [--login-map NAME=LOGIN ...] [--from-backup FILE]

    gp-optout export-from-server --database URL --login DESKLOGIN --out FILE [--server-password-file FILE]

run on the unlocked register (or on an encrypted backup of it, --from-backup) (--register, --user, --password-file as for every command). The
server's administrator first makes an EMPTY practice and a desk login for the manager
(gp-optout server add-practice / add-desk). Everything moves in one transaction, is checked
against the file, and only then is the file marked moved (read-only). docs/server-setup.md,
"Moving a register file to the server". ``export-from-server`` is the reverse: a server
practice's encrypted export (a register backup) that ``gp-optout restore`` puts into a
register file and ``migrate-to-server --from-backup`` into an empty server practice.
"""

from __future__ import annotations

from .store.errors import ServerRefused

SERVER_PASSWORD_ENV = "GP_OPTOUT_SERVER_PASSWORD"


def _server_sign_in_args(p, login_help: str) -> None:
    """The server, the desk login and where its password comes from: the same for every command
    that signs in to the server itself."""
    p.add_argument("--database", dest="server_database", metavar="URL",
                   help="postgresql://HOST[:PORT]/DBNAME?sslrootcert=CA.crt (default: GP_OPTOUT_DATABASE)")
    p.add_argument("--login", required=True, help=login_help)
    p.add_argument("--server-password-file", metavar="FILE",
                   help=f"the password of that desk login (else {SERVER_PASSWORD_ENV} or a prompt)")


def add_commands(subparsers) -> None:
    p = subparsers.add_parser(
        "migrate-to-server", help="move this register into an empty practice on a PostgreSQL server (practice manager)",
        description="Move every patient, event, letter, setting and the verified audit trail of this register into "
                    "an empty practice on the server, in one transaction, check the copy, then keep this file "
                    "read-only. See docs/server-setup.md.")
    _server_sign_in_args(p, "your desk login on the server (gp-optout server add-desk)")
    p.add_argument("--login-prefix", metavar="PREFIX",
                   help="every other user signs in on the server as PREFIX + their user name here "
                        "(e.g. riverside_ makes reception riverside_reception)")
    p.add_argument("--login-map", metavar="NAME=LOGIN", action="append", default=[],
                   help="this user signs in on the server as LOGIN (overrides --login-prefix; repeat per user)")
    p.add_argument("--from-backup", metavar="FILE",
                   help="move this encrypted backup (gp-optout backup) instead of the register here; --user and "
                        "the password are a practice manager's in the backup")
    p.set_defaults(func=run_migrate)

    p = subparsers.add_parser(
        "export-from-server", help="write the server practice's encrypted export (practice manager)",
        description="Read your practice on the server in one snapshot with its audit trail verified, and write it "
                    "as an encrypted, verified register backup that opens with your login and server password: "
                    "gp-optout restore puts it into a register file, migrate-to-server --from-backup into an "
                    "empty server practice. See docs/server-setup.md section 7.")
    _server_sign_in_args(p, "your desk login on the server (a practice manager's)")
    p.add_argument("--out", required=True, metavar="FILE", help="the export to write (a new file)")
    p.set_defaults(func=run_export)


def _login_map(pairs: list[str]) -> dict[str, str]:
    from .domain.errors import ValidationError

    mapping = {}
    for pair in pairs:
        name, sep, login = pair.partition("=")
        if not sep or not name.strip() or not login.strip():
            raise ValidationError(f"--login-map takes NAME=LOGIN, not {pair!r}. Nothing was changed.")
        mapping[name.strip()] = login.strip()
    return mapping


def run_migrate(ctx) -> int:
    from .cli_server import _address, _secret
    from .services import server_migration
    from .services.server_throttle import throttled
    from .store.server import connect

    address = _address(ctx)
    logins = {"login_prefix": ctx.args.login_prefix, "login_map": _login_map(ctx.args.login_map)}
    if ctx.args.from_backup:
        user, file_password, session = ctx.user(), ctx.password("Your password in the backup: "), None
    else:
        session = ctx.session()  # the register file, unlocked by its manager
    password = _secret(ctx.args.server_password_file, SERVER_PASSWORD_ENV,
                       f"Server password for {ctx.args.login}: ", "server password")
    try:
        conn, unwrap = throttled(connect.connect_user)(address, ctx.args.login, password)
    except ServerRefused as exc:
        raise PermissionError(str(exc)) from None
    with conn:
        if session is None:
            report = server_migration.migrate_backup(ctx.args.from_backup, user, file_password, conn, unwrap,
                                                     server=address.describe(), **logins)
        else:
            report = server_migration.migrate(session, conn, unwrap, server=address.describe(), **logins)
    c = report.counts
    ctx.out(f"Moved the register to practice {report.practice_id} on {address.describe()}: {c['patients']} patients, "
            f"{c['events']} events ({c['marks']} coded/confirmed marks), {c['letters']} letters, "
            f"{c['policy']} practice-wide opt-out changes, {c['users']} users.")
    ctx.out(f"Checked: every table's count and every patient's details and current state match the file; the "
            f"file's audit trail ({report.source_entries} entries) verified, archived on the server and its head "
            f"(entry {report.source_head_seq}) recorded in the server's first entry; the server's trail verifies "
            f"({report.server_entries} entries).")
    if session is not None:
        ctx.out("This register file is now read-only (moved to the server).")
    ctx.out("On the server each user signs in with their login (the audit entry migrate.logins records this):")
    for name, login in sorted(report.logins.items()):
        if login == ctx.args.login:
            ctx.out(f"  {name:<20} -> {login} (you; your desk login's password)")
        elif login in report.passwords:
            ctx.out(f"  {name:<20} -> {login}   temporary password: {report.passwords[login]}")
        else:
            ctx.out(f"  {name:<20} -> {login} (removed user: no key slot)")
    if report.passwords:
        ctx.out(f"For the server's administrator: make each of these logins with `gp-optout server add-desk "
                f"--practice {report.practice_id} --login LOGIN` and its temporary password above; give each "
                "person their login and password in person. See docs/server-setup.md section 11.")
    return 0




def run_export(ctx) -> int:
    from pathlib import Path

    from .cli_server import _address, _secret
    from .services import server_export, server_session
    from .services.server_throttle import throttled

    address = _address(ctx)
    password = _secret(ctx.args.server_password_file, SERVER_PASSWORD_ENV,
                       f"Server password for {ctx.args.login}: ", "server password")
    try:
        session = throttled(server_session.sign_in)(address, ctx.args.login, password)
    except ServerRefused as exc:
        raise PermissionError(str(exc)) from None
    try:
        report = server_export.export(session, Path(ctx.args.out), password)
    finally:
        session.lock()
    c = report.counts
    ctx.out(f"Exported practice {session.desk.practice_id} from {address.describe()} to {ctx.args.out}: "
            f"{c['patients']} patients, {c['events']} events, {c['letters']} letters, {c['users']} users, "
            f"{c['audit']} audit entries (verified; entry {report.server_head_seq} is the head recorded in the export).")
    ctx.out(f"It opens as a register backup with your login ({ctx.args.login}) and this password: gp-optout restore "
            "(a register file) or gp-optout migrate-to-server --from-backup (an empty server practice).")
    if not report.signing_key_carried:
        ctx.out("Your login does not hold the practice's manager key, so the exclusion file's signing key is not in "
                "this export: a register restored from it makes a new one (install its public key).", err=True)
    ctx.out(f"The export's recovery key (opens it without your password; keep it apart from the file): "
            f"{report.recovery_key}")
    return 0
