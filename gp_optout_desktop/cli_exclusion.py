"""Exclusion-file commands for the `gp-optout` CLI.

Without the register (the practice system's side):
    gp-optout consult --exclusions DIR --public-key FILE --in candidates.csv --out allowed.csv
                      --practice ODS --state FILE
With the register (they unlock it through cli.CliContext):
    gp-optout export --out DIR [--valid-days N]
    gp-optout national-check --cohort CSV --out FILE
    gp-optout export-public-key --out FILE
    gp-optout replace-signing-key --yes
    gp-optout export-status
    gp-optout practice-optout on|off --reason TEXT [--effective DATE] [--yes]
    gp-optout practice-optout status
    gp-optout optin --nhs N [--via HOW] [--effective DATE]

``add_commands(subparsers)`` registers the commands; each sets ``func`` to a handler
``(ctx) -> exit code`` where ``ctx.args`` holds the parsed arguments (cli.CliContext). Failures print one line saying the reason on stderr (no
traceback) and exit 1. Also runnable alone: ``python -m gp_optout_desktop.cli_exclusion``.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from .exclusion import consult as consult_mod
from .exclusion.errors import ExclusionError
from .exclusion.format import MAX_VALIDITY, MODE_WORDS, format_ts

MAX_ROWS_SHOWN = 50


def add_commands(subparsers) -> None:
    p = subparsers.add_parser(
        "consult",
        help="filter a candidate extraction list through the signed exclusion set (fails closed)",
        description="Write only the candidates who may be extracted. Any doubt about the exclusion set: "
        "nothing is extracted (the output is emptied) and the reason is printed.",
    )
    p.add_argument("--exclusions", required=True, type=Path, metavar="DIR", help="the export folder (holds CURRENT)")
    p.add_argument("--public-key", required=True, type=Path, metavar="FILE", help="the register's public key (PEM)")
    p.add_argument("--in", dest="infile", required=True, type=Path, metavar="CSV", help="candidate list with an NHS number column")
    p.add_argument("--out", required=True, type=Path, metavar="CSV", help="where to write the candidates who may be extracted")
    p.add_argument("--practice", required=True, metavar="ODS", help="this practice's ODS code: a set for any other "
                   "practice is refused (required)")
    p.add_argument("--state", required=True, type=Path, metavar="FILE",
                   help="remembers the highest revision used; an older set is refused (required; created on first use)")
    p.set_defaults(func=run_consult)

    p = subparsers.add_parser("export", help="write the signed exclusion file (practice manager)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="the export folder the clinical system reads")
    _server_options(p)
    p.add_argument("--national-list", action="store_true", help=argparse.SUPPRESS)  # refused: see national-check
    p.add_argument("--valid-days", type=int, default=7, metavar="N",
                   help=f"the consumer refuses the file after N days (default 7, at most {MAX_VALIDITY.days})")
    p.set_defaults(func=run_export)

    p = subparsers.add_parser(
        "national-check", help="from the cohort you are about to disclose, the NHS numbers to send to the national "
        "Check for National Data Opt-outs service (Type 1 objectors taken out; practice manager)")
    p.add_argument("--cohort", required=True, type=Path, metavar="CSV",
                   help="the patients you are about to disclose: a CSV with an NHS number column")
    p.add_argument("--out", required=True, type=Path, metavar="FILE", help="the file to send to the national service")
    p.set_defaults(func=run_national_check)

    p = subparsers.add_parser("export-public-key", help="write the register's public key for the consuming system")
    _server_options(p)
    p.add_argument("--out", required=True, type=Path, metavar="FILE")
    p.set_defaults(func=run_export_public_key)

    p = subparsers.add_parser("replace-signing-key", help="a new signing key pair (the consuming system needs the new "
                                                      "public key before it accepts new files)")
    p.add_argument("--yes", action="store_true", help="confirm: the consuming system refuses new files until updated")
    p.set_defaults(func=run_replace_signing_key)

    p = subparsers.add_parser("export-status", help="when the exclusion file was last exported and whether it is out of date")
    _server_options(p)
    p.set_defaults(func=run_export_status)

    p = subparsers.add_parser("practice-optout", help="the practice-wide opt-out: on, off (GP only) or status")
    p.add_argument("state", choices=("on", "off", "status"))
    p.add_argument("--reason", help="why (required for on and off)")
    p.add_argument("--effective", type=_date, metavar="DATE", help="YYYY-MM-DD (default today)")
    p.add_argument("--yes", action="store_true", help="confirm without the prompt (NHS England's position is still shown)")
    p.set_defaults(func=run_practice_optout)

    p = subparsers.add_parser("optin", help="record that a patient asks to be included despite the practice-wide opt-out")
    p.add_argument("--nhs", required=True, metavar="N")
    p.add_argument("--via", default="desk", choices=("desk", "post", "email", "phone"))
    p.add_argument("--effective", type=_date, metavar="DATE")
    p.set_defaults(func=run_optin)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date (YYYY-MM-DD)") from None


def _server_options(p) -> None:
    """On a server register (ADR 0015 addendum, signing on the server): sign in as your login."""
    p.add_argument("--database", dest="server_database", metavar="URL",
                   help="a server register: postgresql://HOST[:PORT]/DBNAME?sslrootcert=CA.crt (with --login)")
    p.add_argument("--login", dest="server_login", metavar="LOGIN", help="your desk login on that server")
    p.add_argument("--server-password-file", metavar="FILE", help="that login's password (else a prompt)")


def _session(ctx):
    """The register file's session, or with --login a server sign-in (locked by ctx.close)."""
    if not getattr(ctx.args, "server_login", None):
        return ctx.session()
    if ctx._server_session is None:
        from .cli_migrate import SERVER_PASSWORD_ENV
        from .cli_server import _address, _secret
        from .services import server_session
        from .services.server_throttle import throttled
        from .store.errors import ServerRefused

        address = _address(ctx)
        password = _secret(ctx.args.server_password_file, SERVER_PASSWORD_ENV,
                           f"Server password for {ctx.args.server_login}: ", "server password")
        try:
            ctx._server_session = throttled(server_session.sign_in)(address, ctx.args.server_login, password)
        except ServerRefused as exc:
            raise PermissionError(str(exc)) from None
    return ctx._server_session


def run_export(ctx) -> int:
    from datetime import timedelta

    from .services import exclusion as service

    a = ctx.args
    if a.national_list:
        return fail("--national-list no longer copies the exclusion list (sending the excluded patients to the national "
                    "service achieves nothing). Use: gp-optout national-check --cohort CSV --out FILE, with the patients "
                    "you are about to disclose. Nothing was written.")
    if not 1 <= a.valid_days <= MAX_VALIDITY.days:
        return fail(f"--valid-days must be from 1 to {MAX_VALIDITY.days} (consumers refuse a longer validity).")
    try:
        change = service.export(_session(ctx), a.out, valid_for=timedelta(days=a.valid_days))
    except ExclusionError as exc:
        return fail(str(exc))
    print(change.summary)
    for warning in change.warnings:
        print(f"Warning: {warning}", file=sys.stderr)
    return 0


def run_national_check(ctx) -> int:
    from .services import exclusion as service

    a = ctx.args
    try:
        change = service.national_check(ctx.session(), a.cohort, a.out)
    except ExclusionError as exc:
        return fail(str(exc))
    print(change.summary)
    for warning in change.warnings:
        print(f"Warning: {warning}", file=sys.stderr)
    return 0


def run_export_public_key(ctx) -> int:
    from .services import exclusion as service

    print(service.export_public_key(_session(ctx), ctx.args.out).summary)
    return 0


def run_replace_signing_key(ctx) -> int:
    from .domain.errors import ValidationError
    from .services import exclusion as service

    if not ctx.args.yes:
        raise ValidationError("Replacing the signing key stops the consuming system accepting new exclusion files "
                              "until its public key is updated. Run again with --yes to go ahead.", "yes")
    print(service.replace_signing_key(ctx.session()).summary)
    return 0


def run_export_status(ctx) -> int:
    from .services import exclusion as service

    session = _session(ctx)
    for text in service.export_status(session).describe(session.now()):
        print(text)
    return 0


def run_practice_optout(ctx, confirm=None) -> int:
    from .domain.practice_policy import NHSE_POSITION
    from .services import exclusion as service

    a = ctx.args
    session = ctx.session()
    if a.state == "status":
        status = service.practice_optout_status(session)
        print(status.describe())
        for c in status.history:
            print(f"  {c.effective.isoformat()}  {c.state:<3}  by {c.recorded_by} at {c.recorded_at:%Y-%m-%d %H:%M}: {c.reason}")
        return 0
    if not (a.reason or "").strip():
        return fail("Give a reason with --reason TEXT.")
    print(NHSE_POSITION)
    if not a.yes:
        confirm = confirm or _ask
        if not confirm(f"Turn the practice-wide opt-out {a.state}? Type 'yes' to confirm: "):
            return fail("Not confirmed; nothing was changed.")
    print(service.set_practice_optout(session, a.state, a.reason, a.effective).summary)
    return 0


def _ask(prompt: str) -> bool:
    if not sys.stdin.isatty():
        return False  # a script must say --yes explicitly
    return input(prompt).strip().lower() == "yes"


def run_optin(ctx) -> int:
    from .services import exclusion as service

    a = ctx.args
    change = service.opt_in(ctx.session(), a.nhs, via=a.via, effective=a.effective)
    print(change.summary)
    for warning in change.warnings:
        print(f"Warning: {warning}", file=sys.stderr)
    return 0


def run_consult(ctx) -> int:
    args = ctx.args
    try:
        result = consult_mod.filter_candidates(
            args.exclusions, args.public_key, args.infile, args.out, practice_ods=args.practice, state_path=args.state
        )
    except ExclusionError as exc:
        return fail(f"consult refused, nothing may be extracted: {exc}")
    except OSError as exc:
        return fail(f"consult failed, nothing may be extracted: {exc.strerror or exc} ({exc.filename})")
    m = result.manifest
    print(
        f"Exclusion set: practice {m.practice_ods}, revision {m.register_revision}, generated {format_ts(m.generated_at)}, "
        f"{m.row_count} listed; mode {m.mode} ({MODE_WORDS[m.mode]})."
    )
    print(
        f"May be extracted: {result.allowed} of {result.candidates} candidates, written to {result.out_path}. "
        f"Held back: {result.held_back} ({result.held_back_by_set} by the exclusion set, "
        f"{len(result.invalid_rows)} with an invalid NHS number)."
    )
    for rowno, reason in result.invalid_rows[:MAX_ROWS_SHOWN]:
        print(f"  row {rowno}: held back: {reason}")
    if len(result.invalid_rows) > MAX_ROWS_SHOWN:
        print(f"  ... and {len(result.invalid_rows) - MAX_ROWS_SHOWN} more rows with an invalid NHS number.")
    if m.objectors_without_nhs_number:
        print(
            f"Warning: {m.objectors_without_nhs_number} objecting patient(s) have no NHS number in the register and are "
            "not in the list: make sure the clinical system holds their objection codes.",
            file=sys.stderr,
        )
    return 0


def fail(message: str) -> int:
    print(f"gp-optout: {message}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gp-optout")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(_Standalone(args))


class _Standalone:
    """The part of cli.CliContext the register-free commands use."""

    def __init__(self, args):
        self.args = args


if __name__ == "__main__":
    sys.exit(main())
