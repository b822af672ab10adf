"""The headless face: ``gp-optout`` for scripts, scheduled exports and tests.

Exit 0 on success; otherwise a one-line reason on stderr and a non-zero exit, never a
traceback. Patient identifiers are printed only by commands whose purpose is to show
them (find, status, history), never in errors.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import date
from pathlib import Path

from . import __version__
from .domain import codes, nhs_number, roles
from .domain.errors import ValidationError
from .domain.events import HOW_RECEIVED, PROXY_ROLES, VIA_LABELS, Proxy
from .store.errors import Conflict, NotFound, StoreError, Throttled, WrongPassword

EXIT_INVALID = 2  # bad input: nothing changed
EXIT_REFUSED = 3  # permission, password, throttle
EXIT_STORE = 4  # register missing, corrupt, newer, disk full


def default_register() -> Path:
    env = os.environ.get("GP_OPTOUT_REGISTER")
    if env:
        return Path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir("gp-optout-desktop", "gp-optout")) / "register"


class CliContext:
    """What every command handler gets: parsed args, a lazily unlocked session, output."""

    def __init__(self, args):
        self.args = args
        self._session = None
        self._server_session = None  # cli_exclusion's --login: a sign-in to a server register

    @property
    def folder(self) -> Path:
        return Path(self.args.register) if self.args.register else default_register()

    def user(self) -> str:
        user = self.args.user or os.environ.get("GP_OPTOUT_USER")
        if not user:
            raise ValidationError("Say who you are with --user NAME (or GP_OPTOUT_USER).")
        return user

    def password(self, prompt: str = "Password: ") -> str:
        if self.args.password_file:
            return _read_secret(self.args.password_file)
        env = os.environ.get("GP_OPTOUT_PASSWORD")
        if env is not None:
            return env
        if not sys.stdin.isatty():
            raise ValidationError("No password given: use a terminal, --password-file FILE or GP_OPTOUT_PASSWORD.")
        return getpass.getpass(prompt)

    def session(self):
        if self._session is None:
            from .services import session as session_service

            self._session = session_service.unlock(self.folder, self.user(), self.password())
            if self._session.must_change_password:
                self.out("Your password was reset: choose a new one with 'gp-optout user passwd'.", err=True)
            if self._session.register.upgraded:
                self.out("The register now signs user records and the audit trail with a manager key (docs/adr/0006). "
                         "Make a new recovery key now: 'gp-optout recovery-key new'.", err=True)
        return self._session

    def close(self) -> None:
        if self._session is not None and self._session.register.is_open:
            self._session.lock()
        server = self._server_session
        if server is not None:
            self._server_session = None
            server.lock()

    @staticmethod
    def out(text: str = "", err: bool = False) -> None:
        print(text, file=sys.stderr if err else sys.stdout)


def _read_secret(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise ValidationError(f"The password file {Path(path).name} is not UTF-8 text.") from None


def _prompt_secret(prompt: str) -> str:
    if not sys.stdin.isatty():
        raise ValidationError("No terminal to ask for a password: use --new-password-file FILE (or --temporary).")
    return getpass.getpass(prompt)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date (YYYY-MM-DD)") from None


def _nhs(text: str) -> str:
    try:
        return nhs_number.validate(text)
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# ---------------------------------------------------------------- handlers
def cmd_init(ctx: CliContext) -> int:
    from .services import setup

    a = ctx.args
    practice = setup.practice_details(name=a.practice_name, address=a.address or [], phone=a.phone or "", email=a.email or "")
    session, recovery = setup.create_register(ctx.folder, ods=a.ods, practice=practice, user=ctx.user(),
                                              password=ctx.password("New password: "))
    ctx._session = session
    ctx.out(f"Created the register in {ctx.folder} for {practice['name']} ({a.ods.upper()}).")
    ctx.out(f"{session.user} is its practice manager.")
    ctx.out("RECOVERY KEY (shown once: print it and keep it locked away; it can unlock the register):")
    ctx.out(f"  {recovery}")
    return 0


def cmd_demo(ctx: CliContext) -> int:
    from .services import demo

    session, recovery, stats = demo.create_demo(ctx.folder, ctx.args.patients)
    ctx._session = session
    ctx.out(f"Created a demo register in {ctx.folder} with {stats['patients']} synthetic patients "
            f"(NHS numbers beginning 999): {stats['type1_active']} current Type 1 objections, "
            f"{stats['type2']} legacy Type 2, {stats['withdrawn']} withdrawn, {stats['proxies']} made by a proxy, "
            f"{stats['dependants']} dependants on a parent's form.")
    ctx.out("Demo users (name / password / role):")
    for name, (password, role) in demo.DEMO_USERS.items():
        ctx.out(f"  {name:<10} {password:<22} {roles.ROLE_LABELS[role]}")
    ctx.out(f"Recovery key: {recovery}")
    return 0


def cmd_recover(ctx: CliContext) -> int:
    """A practice manager who lost their password opens the register with the recovery key
    and sets a new password at once."""
    from .services import session as session_service, users

    a = ctx.args
    key = _read_secret(a.recovery_key_file) if a.recovery_key_file else _prompt_secret("Recovery key: ")
    new = _read_secret(a.new_password_file) if a.new_password_file else _prompt_secret("New password: ")
    users.check_password(new)  # refused before the recovery key is spent on an unlock
    session = session_service.unlock_with_recovery(ctx.folder, ctx.user(), key)
    try:
        change = users.change_own_password(session, new)
    finally:
        session.lock()
    ctx.out(f"{change.summary} {ctx.user()} can unlock with the new password. The recovery key still works: "
            "keep it locked away.")
    return 0


def cmd_user(ctx: CliContext) -> int:
    from .services import users

    a = ctx.args
    session = ctx.session()
    if a.user_cmd == "add":
        if a.temporary:
            password = None  # the service makes one, shown below
        elif a.new_password_file:
            password = _read_secret(a.new_password_file)
        else:
            password = _prompt_secret(f"Password for {a.name}: ")
        change = users.add(session, a.name, a.role, password)
    elif a.user_cmd == "remove":
        change = users.remove(session, a.name)
    elif a.user_cmd == "role":
        change = users.change_role(session, a.name, a.role)
    elif a.user_cmd == "reset":
        change = users.reset_password(session, a.name)
    elif a.user_cmd == "list":
        for name, role in users.list_users(session):
            ctx.out(f"{name:<20} {roles.ROLE_LABELS.get(role, role)}")
        problems = users.record_problems(session)  # a record edited outside the app (docs/adr/0006)
        for problem in problems:
            print(f"gp-optout: warning: {problem}", file=sys.stderr)
        return EXIT_STORE if problems else 0
    else:  # passwd
        if a.name and a.name != session.user:
            change = users.reset_password(session, a.name)
        else:
            new = _read_secret(a.new_password_file) if a.new_password_file else _prompt_secret("New password: ")
            change = users.change_own_password(session, new)
    ctx.out(change.summary)
    if change.data.get("password"):
        ctx.out(f"Temporary password (tell them in person; they must change it): {change.data['password']}")
    return 0


def cmd_patient(ctx: CliContext) -> int:
    from .services import patients

    a = ctx.args
    session = ctx.session()
    if a.patient_cmd == "add":
        change = patients.add(session, surname=a.surname, forenames=a.forenames, dob=a.dob, postcode_raw=a.postcode,
                              nhs=a.nhs, title=a.title or "", address=a.address_line or [], phone=a.phone or "",
                              email=a.email or "")
        ctx.out(change.summary)
        for warning in change.warnings:
            ctx.out(f"Note: {warning}")
        return 0
    if a.patient_cmd == "edit":
        current = patients.by_nhs(session, a.nhs)
        lines = a.address_line if a.address_line is not None else list(current.address)
        change = patients.edit(
            session, current.patient_id, nhs=a.set_nhs or current.nhs_number,
            surname=_given(a.surname, current.surname), forenames=_given(a.forenames, current.forenames),
            dob=a.dob or current.dob, postcode_raw=_given(a.postcode, current.postcode),
            title=_given(a.title, current.title), address=lines, phone=_given(a.phone, current.phone),
            email=_given(a.email, current.email))
        ctx.out(change.summary)
        for warning in change.warnings:
            ctx.out(f"Note: {warning}")
        return 0
    rows = patients.find(session, a.query, limit=a.limit)
    if not rows:
        ctx.out("No patients found.")
        return 1
    for r in rows:
        flags = ", ".join(k for k, v in (("Type 1", r.type1_active), ("Type 2", r.type2_active)) if v) or "-"
        number = nhs_number.display(r.nhs_number) if r.nhs_number else "(no NHS number)"
        ctx.out(f"{number:<14} {r.name:<36} {r.dob.isoformat()}  {r.postcode:<9} objects: {flags}")
    return 0


def _given(value: str | None, current: str) -> str:
    return current if value is None else value


def _patient_id(ctx: CliContext) -> int:
    from .services import patients

    return patients.by_nhs(ctx.session(), ctx.args.nhs).patient_id


def _dependant_ids(ctx: CliContext) -> list[int]:
    from .services import patients

    return [patients.by_nhs(ctx.session(), n).patient_id for n in (ctx.args.dependant or [])]


def cmd_object(ctx: CliContext, action: str) -> int:
    from .services import objections

    a = ctx.args
    proxy = None
    if a.proxy_role or a.proxy_name:
        proxy = Proxy(a.proxy_role or "", a.proxy_name or "", a.proxy_evidence or "",
                      a.proxy_verified_by or ctx.user())
    change = objections.record(ctx.session(), _patient_id(ctx), a.type, action, effective=a.effective,
                               received=a.received, via=a.via, proxy=proxy, dependants=_dependant_ids(ctx),
                               confirm_other_address=a.confirm_other_address,
                               donor_lacks_capacity=a.donor_lacks_capacity)
    ctx.out(change.summary)
    for warning in change.warnings:
        ctx.out(warning)
    return 0


def cmd_status(ctx: CliContext) -> int:
    from .services import patients

    if ctx.args.export:
        from .cli_exclusion import run_export_status

        return run_export_status(ctx)
    if not ctx.args.nhs:
        raise ValidationError("Say whose status: --nhs NUMBER (or --export for the exclusion file).")

    record = patients.view(ctx.session(), _patient_id(ctx))
    p = record.patient
    ctx.out(f"{p.display_name}, NHS number {p.nhs_display}, born {p.dob:%d %b %Y}")
    for status in record.statuses.values():
        ctx.out(f"  {status.describe()}")
    if record.statuses["type1"].event is not None:  # received or in force, and what is pending
        ctx.out(f"  {record.standing.label}: {record.standing.words} {record.standing.pending}".rstrip())
    if record.signposts:
        ctx.out(f"  National Data Opt-out signposted on {record.signposts[-1]:%d %b %Y}")
    return 0


def cmd_history(ctx: CliContext) -> int:
    from .domain.in_force import coding_words
    from .services import patients

    record = patients.view(ctx.session(), _patient_id(ctx))
    if not record.history:
        ctx.out("No objections, withdrawals or requests recorded.")
    for e in record.history:
        who = f"by proxy {e.proxy.name} ({PROXY_ROLES[e.proxy.role]})" if e.proxy else "by the patient"
        label = "include me" if e.kind == "include" else codes.SHORT_LABELS[e.kind]
        coded = f", {coding_words(e)[0].lower()}{coding_words(e)[1:]}"
        ctx.out(f"{e.effective.isoformat()}  {label:<10} {e.action:<9} received {e.received.isoformat()} "
                f"{VIA_LABELS.get(e.via, e.via)}, {who}; recorded by {e.recorded_by}{coded}")
    return 0


def cmd_audit(ctx: CliContext) -> int:
    from .services import audit

    a = ctx.args
    if a.audit_cmd == "verify":
        result = audit.verify(ctx.session())
        ctx.out(result.describe())
        for problem in result.problems[1:]:
            ctx.out(f"  also: {problem}")
        return 0 if result.ok else 5
    rows = audit.query(ctx.session(), since=a.since, until=a.until, user=a.by, action=a.action, patient=a.patient,
                       limit=a.limit)
    for r in rows:
        ctx.out(f"{r.seq:>7} {r.at:%Y-%m-%d %H:%M:%S} {r.user:<12} {r.role:<12} {r.action:<24} {r.patient:<12} "
                f"{r.outcome:<7} {r.workstation} {r.detail}")
    return 0


def cmd_import(ctx: CliContext) -> int:
    from .domain.import_rows import ImportRefused
    from .services import importer

    a = ctx.args
    session = ctx.session()
    try:
        text = importer.read_csv_file(a.source)
        if a.check:
            ctx.out(f"Checked, nothing written. The file has {importer.check(session, text).describe(done=False)}")
        else:
            ctx.out(importer.import_objections(session, text).summary)
    except ImportRefused as exc:
        return report_refused(exc)
    return 0


def report_refused(exc) -> int:
    """A refused file: the reason and the first 50 problems, by row number and reason only
    (the file's patients are never echoed)."""
    print(f"gp-optout: {exc}", file=sys.stderr)
    for problem in exc.problems[:50]:
        print(f"  {problem}", file=sys.stderr)
    if len(exc.problems) > 50:
        print(f"  ... and {len(exc.problems) - 50:,} more.", file=sys.stderr)
    return EXIT_INVALID


def cmd_settings(ctx: CliContext) -> int:
    from .services import settings

    a = ctx.args
    session = ctx.session()
    if a.idle_lock is not None:
        ctx.out(settings.set_idle_lock_minutes(session, a.idle_lock).summary)
    if any(v is not None for v in (a.practice_name, a.address, a.phone, a.email)):
        current = settings.practice_details(session)
        change = settings.set_practice_details(
            session, name=a.practice_name if a.practice_name is not None else current.get("name", ""),
            address=a.address if a.address is not None else current.get("address", []),
            phone=a.phone if a.phone is not None else current.get("phone", ""),
            email=a.email if a.email is not None else current.get("email", ""))
        ctx.out(change.summary)
    details = settings.practice_details(session)
    ctx.out(f"Practice: {details.get('name', '')} ({details.get('ods', '')})")
    for line in details.get("address", []):
        ctx.out(f"  {line}")
    ctx.out(f"  phone {details.get('phone') or '-'}, email {details.get('email') or '-'}")
    ctx.out(f"Idle lock after {settings.idle_lock_minutes(session)} minutes without use")
    return 0


def cmd_rekey(ctx: CliContext) -> int:
    from .cli_exclusion import _session
    from .services import users

    session = _session(ctx)  # with --database/--login: a server practice (ADR 0015 addendum)
    if getattr(session, "on_server", False):
        from .cli_migrate import SERVER_PASSWORD_ENV
        from .cli_server import _secret

        password = _secret(ctx.args.server_password_file, SERVER_PASSWORD_ENV, "Your password, to confirm: ",
                           "server password")
    else:
        password = ctx.password("Your password, to confirm: ")
    change = users.rekey(session, password)
    ctx.out(change.summary)
    for n, (name, temporary) in enumerate(change.data["passwords"].items()):
        ctx.out(f"  {name:<20} temporary password: {temporary}")
        if change.data.get("before"):
            ctx.out(f"  {'':<20} the administrator first runs: {change.data['before'][n]}")
    if change.data["recovery_key"] is None:
        ctx.out("THE RECOVERY KEY WAS REMOVED (it opened the old key only): make a new one now at a desk, "
                "Users > New recovery key….")
    else:
        ctx.out(f"NEW RECOVERY KEY (the old one no longer works; print it and lock it away): "
                f"{change.data['recovery_key']}")
    return 0


def cmd_backup(ctx: CliContext) -> int:
    from .services import backup

    ctx.out(backup.backup(ctx.session(), Path(ctx.args.out)).summary)
    return 0


def cmd_restore(ctx: CliContext) -> int:
    from .services import backup

    a = ctx.args
    recovery = _read_secret(a.recovery_key_file) if a.recovery_key_file else None
    password = None if recovery is not None else ctx.password("Your password for this register: ")
    backup_recovery = _read_secret(a.backup_recovery_key_file) if a.backup_recovery_key_file else None
    backup_password = _read_secret(a.backup_password_file) if a.backup_password_file else None
    try:
        session, change = backup.restore(ctx.folder, Path(a.from_file), ctx.user(), password, recovery,
                                         backup_password=backup_password, backup_recovery_key=backup_recovery,
                                         replace_unreadable=a.replace_unreadable, confirm_ods=a.confirm_ods)
    except backup.ConfirmationNeeded as exc:
        how = "--replace-unreadable" if exc.kind == "unreadable" else f"--confirm-ods {exc.ods}"
        raise ValidationError(f"{exc} Run again with {how}.") from None
    ctx._session = session
    ctx.out(change.summary)
    return 0


# ---------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gp-optout", description="Register of patients' objections to GP data extraction.")
    parser.add_argument("--version", action="version", version=f"gp-optout {__version__}")
    parser.add_argument("--register", help="register folder (default: GP_OPTOUT_REGISTER, else your data folder)")
    parser.add_argument("--user", help="your user name (or GP_OPTOUT_USER)")
    parser.add_argument("--password-file", help="read your password from this file (for scripts)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("init", help="create a new register (you become its practice manager)")
    p.add_argument("--ods", required=True)
    p.add_argument("--practice-name", required=True)
    p.add_argument("--address", action="append", help="an address line (repeat)")
    p.add_argument("--phone")
    p.add_argument("--email")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("demo", help="create a demo register of synthetic patients")
    p.add_argument("--patients", type=int, default=2000)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("user", help="manage users (practice manager)")
    usub = p.add_subparsers(dest="user_cmd", required=True)
    q = usub.add_parser("add")
    q.add_argument("name")
    q.add_argument("--role", required=True, choices=roles.ROLES)
    q.add_argument("--temporary", action="store_true", help="make a temporary password they must change")
    q.add_argument("--new-password-file")
    q = usub.add_parser("remove")
    q.add_argument("name")
    q = usub.add_parser("role")
    q.add_argument("name")
    q.add_argument("--role", required=True, choices=roles.ROLES)
    q = usub.add_parser("reset", help="give a user a temporary password")
    q.add_argument("name")
    q = usub.add_parser("passwd", help="change your password (or reset NAME's)")
    q.add_argument("name", nargs="?")
    q.add_argument("--new-password-file")
    usub.add_parser("list")
    p.set_defaults(func=cmd_user)

    p = sub.add_parser("recover", help="a practice manager who lost their password: open with the recovery key "
                                       "and choose a new password (--user NAME)")
    p.add_argument("--recovery-key-file", help="read the recovery key from this file instead of asking")
    p.add_argument("--new-password-file", help="read the new password from this file instead of asking")
    p.set_defaults(func=cmd_recover)

    p = sub.add_parser("patient", help="add, correct or find patients")
    psub = p.add_subparsers(dest="patient_cmd", required=True)
    q = psub.add_parser("add")
    q.add_argument("--nhs")
    q.add_argument("--surname", required=True)
    q.add_argument("--forenames", required=True)
    q.add_argument("--dob", required=True)
    q.add_argument("--postcode", required=True)
    q.add_argument("--title")
    q.add_argument("--address-line", action="append")
    q.add_argument("--phone")
    q.add_argument("--email")
    q = psub.add_parser("edit", help="correct a patient's details; fields not given stay as they are")
    q.add_argument("--nhs", required=True, type=_nhs, help="the patient's NHS number as recorded now")
    q.add_argument("--set-nhs", type=_nhs, help="a corrected NHS number")
    for flag in ("--surname", "--forenames", "--dob", "--postcode", "--title", "--phone", "--email"):
        q.add_argument(flag)
    q.add_argument("--address-line", action="append", help="repeat for each line; replaces every line")
    q = psub.add_parser("find")
    q.add_argument("query")
    q.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_patient)

    for name, action, help_text in (("object", codes.REGISTER, "record an objection"),
                                    ("withdraw", codes.WITHDRAW, "record a withdrawal")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--nhs", required=True, type=_nhs)
        p.add_argument("--type", default=codes.TYPE1, choices=codes.OBJECTION_TYPES)
        p.add_argument("--effective", type=_date)
        p.add_argument("--received", type=_date)
        p.add_argument("--via", default="desk", choices=tuple(HOW_RECEIVED))
        p.add_argument("--proxy-role", choices=tuple(PROXY_ROLES))
        p.add_argument("--proxy-name")
        p.add_argument("--proxy-evidence")
        p.add_argument("--proxy-verified-by")
        p.add_argument("--dependant", action="append", type=_nhs,
                       help="NHS number of a child (under 16) on the same form")
        p.add_argument("--confirm-other-address", action="store_true",
                       help="a dependant lives at another address and the adult's parental responsibility was checked")
        p.add_argument("--donor-lacks-capacity", action="store_true",
                       help="needed with --proxy-role lpa_health_welfare: the patient lacks capacity to decide")
        p.set_defaults(func=lambda ctx, action=action: cmd_object(ctx, action))

    p = sub.add_parser("status", help="a patient's current state in words, or --export: the exclusion file's")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--nhs", type=_nhs)
    which.add_argument("--export", action="store_true", help="when the exclusion file was last written, and whether it is out of date")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("history", help="a patient's full history")
    p.add_argument("--nhs", required=True, type=_nhs)
    p.set_defaults(func=cmd_history)

    p = sub.add_parser("audit", help="verify or show the audit trail (practice manager)")
    asub = p.add_subparsers(dest="audit_cmd", required=True)
    asub.add_parser("verify")
    q = asub.add_parser("show")
    q.add_argument("--since", type=_date)
    q.add_argument("--until", type=_date)
    q.add_argument("--by", help="user name")
    q.add_argument("--action", help="action prefix, e.g. type1 or login")
    q.add_argument("--patient", help="NHS number")
    q.add_argument("--limit", type=int, default=200)
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("import", help="import the objections coded in the clinical system from a CSV file "
                                      "(practice manager; all rows or none)")
    p.add_argument("--from", dest="source", required=True, type=Path,
                   help="CSV with NHS number, surname, forenames, date of birth, postcode, code and code date columns")
    p.add_argument("--check", action="store_true", help="check the file and say what would change; write nothing")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("settings", help="show or change the letterhead and idle lock (changes: practice manager)")
    p.add_argument("--idle-lock", type=int, metavar="MINUTES", help="lock after this many idle minutes (1-15)")
    p.add_argument("--practice-name")
    p.add_argument("--address", action="append", help="an address line (repeat; replaces all lines)")
    p.add_argument("--phone")
    p.add_argument("--email")
    p.set_defaults(func=cmd_settings)

    p = sub.add_parser("rekey", help="re-encrypt the register with a new key (practice manager)")
    from .cli_exclusion import _server_options

    _server_options(p)
    p.set_defaults(func=cmd_rekey)

    p = sub.add_parser("backup", help="write a verified encrypted backup (practice manager)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_backup)
    p = sub.add_parser("restore", help="restore a backup after checking it (practice manager)")
    p.add_argument("--from", dest="from_file", required=True)
    p.add_argument("--recovery-key-file", help="prove your right with this register's recovery key instead of your password")
    p.add_argument("--backup-password-file", help="your password in the backup, if it differs from today's")
    p.add_argument("--backup-recovery-key-file", help="open the backup with its recovery key")
    p.add_argument("--confirm-ods", metavar="CODE", help="restore a backup of another practice: type its ODS code")
    p.add_argument("--replace-unreadable", action="store_true",
                   help="the register here cannot be read: replace it (it is kept aside)")
    p.set_defaults(func=cmd_restore)

    for module in _command_modules():
        module.add_commands(sub)
    return parser


def _command_modules():
    """Command groups that live beside their features: every ``cli_<area>`` module of the
    package with an ``add_commands(subparsers)`` (so a new feature adds a module, not an edit here)."""
    import importlib
    import pkgutil

    names = sorted(m.name for m in pkgutil.iter_modules(_package_path())
                   if m.name.startswith("cli_"))
    return [importlib.import_module(f"{__package__}.{name}") for name in names]


def _package_path() -> list[str]:
    import gp_optout_desktop

    return list(gp_optout_desktop.__path__)


def _not_text(argv: list[str]) -> str | None:
    """Bytes that are not UTF-8 reach Python's argv as lone surrogates (surrogateescape): name
    the argument by its position, never echo it (it may be a patient's name)."""
    for number, arg in enumerate(argv, start=1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            return (f"argument {number} is not valid text (it holds bytes that are not UTF-8); nothing was "
                    "changed. Retype it, or check the terminal's character set is UTF-8.")
    for name in ("GP_OPTOUT_REGISTER", "GP_OPTOUT_USER", "GP_OPTOUT_PASSWORD", "GP_OPTOUT_ALLOW_FUSE"):
        try:
            os.environ.get(name, "").encode("utf-8")
        except UnicodeEncodeError:
            return f"the environment variable {name} is not valid UTF-8 text; nothing was changed."
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    problem = _not_text(argv)
    if problem:
        print(f"gp-optout: {problem}", file=sys.stderr)
        return EXIT_INVALID
    parser = build_parser()
    args = parser.parse_args(argv)
    ctx = CliContext(args)
    try:
        return args.func(ctx)
    except ValidationError as exc:
        print(f"gp-optout: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except PermissionError as exc:
        print(f"gp-optout: refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except (Conflict, NotFound) as exc:
        print(f"gp-optout: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except StoreError as exc:

        print(f"gp-optout: {exc}", file=sys.stderr)
        return EXIT_REFUSED if isinstance(exc, (WrongPassword, Throttled)) else EXIT_STORE
    except OSError as exc:
        print(f"gp-optout: {exc.strerror or exc} ({exc.filename or 'file'}); nothing was changed.", file=sys.stderr)
        return EXIT_STORE
    except KeyboardInterrupt:
        print("gp-optout: interrupted; nothing was changed.", file=sys.stderr)
        return 130
    except UnicodeError:  # text typed at a prompt or read from a file that is not UTF-8
        print("gp-optout: some text given is not valid UTF-8; nothing was changed.", file=sys.stderr)
        return EXIT_INVALID
    finally:
        ctx.close()


if __name__ == "__main__":
    sys.exit(main())
