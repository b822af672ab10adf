"""Code-table commands for the `gp-optout` CLI (wired in by cli._command_modules):

    gp-optout codes show [--out FILE]                  # the table in force (anyone)
    gp-optout codes save --from FILE --reason TEXT     # a corrected table (practice manager)
    gp-optout codes reset --reason TEXT                # back to the shipped table (practice manager)
    gp-optout codes history                            # every saved version (practice manager)

Each also on a server register: --database URL --login LOGIN [--server-password-file FILE].

A correction is validated in full before anything is written, kept in the register and
audited (services/codes.py). Handlers take cli.CliContext and return an exit code; cli.main
turns errors into one line.
"""

from __future__ import annotations

from pathlib import Path


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("codes", help="the objection code table: show it, or correct it without a new release")
    csub = p.add_subparsers(dest="codes_cmd", required=True)
    q = csub.add_parser("show", help="the code table in force")
    q.add_argument("--out", type=Path, metavar="FILE", help="write the table's JSON to FILE (to edit and save back)")
    q.set_defaults(func=run_show)
    q = csub.add_parser("save", help="validate and save a corrected code table (practice manager)")
    q.add_argument("--from", dest="from_file", required=True, type=Path, metavar="FILE", help="the table (JSON)")
    q.add_argument("--reason", required=True, help="why (for example the clinical safety officer's confirmation)")
    q.set_defaults(func=run_save)
    q = csub.add_parser("reset", help="go back to the table shipped with this release (practice manager)")
    q.add_argument("--reason", required=True)
    q.set_defaults(func=run_reset)
    q = csub.add_parser("history", help="every saved version of the code table (practice manager)")
    q.set_defaults(func=run_history)
    from .cli_exclusion import _server_options

    for sub in csub.choices.values():  # each also on a server register (ADR 0015 addendum srvrest15)
        _server_options(sub)


def _session(ctx):
    from .cli_exclusion import _session as either_engine

    return either_engine(ctx)


def run_show(ctx) -> int:
    from .domain.codes import SHORT_LABELS
    from .exclusion.fsutil import replace_file_atomically
    from .services import codes as service

    force = service.in_force(_session(ctx))
    if ctx.args.out:
        replace_file_atomically(Path(ctx.args.out), force.text.encode("utf-8"))
        print(f"Code table written to {ctx.args.out}. Edit it, then: gp-optout codes save --from FILE --reason TEXT")
        return 0
    where = ("the table shipped with this release" if force.saved is None or force.saved.text is None
             else f"version {force.version}, saved by {force.saved.saved_by} at {force.saved.saved_at[:16]}: "
                  f"{force.saved.reason}")
    print(f"Code table in force: {where}. Type 2 cut-off (date the code was added): {force.table.type2_cutoff}.")
    for c in force.table.codes:
        flag = f"  VERIFY: {', '.join(c.verify)}" if c.verify else ""
        print(f"  {SHORT_LABELS[c.objection]} {c.action:<8} Read v2 {c.read_v2}  CTV3 {c.ctv3}  "
              f"SNOMED CT {c.snomed}  ({c.status}){flag}")
    print("Refused as not objections: " + ", ".join(f"{r}/{c}" for r, c, _m in force.table.not_objections))
    return 0


def run_save(ctx) -> int:
    from .domain.errors import ValidationError
    from .services import codes as service

    path = ctx.args.from_file
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError(f"{path.name} is not UTF-8 text. Nothing was changed.", "codes") from None
    except OSError as exc:
        raise ValidationError(f"{path.name} cannot be read ({exc.strerror or exc.__class__.__name__}). "
                              "Nothing was changed.", "codes") from None
    print(service.save(_session(ctx), text, ctx.args.reason).summary)
    return 0


def run_reset(ctx) -> int:
    from .services import codes as service

    print(service.reset(_session(ctx), ctx.args.reason).summary)
    return 0


def run_history(ctx) -> int:
    from .services import codes as service

    saved = service.history(_session(ctx))
    if not saved:
        print("The code table has never been changed: the shipped table is in force.")
    for s in saved:
        what = "back to the shipped table" if s.text is None else "a corrected table"
        print(f"  version {s.version}  {s.saved_at[:16]}  by {s.saved_by}: {what}; {s.reason}")
    return 0
