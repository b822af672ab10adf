"""Exclusion-file commands for the `gp-optout` CLI, usable without the register.

    gp-optout consult --exclusions DIR --public-key FILE --in candidates.csv --out allowed.csv
                      [--practice ODS] [--state FILE]

``add_commands(subparsers)`` registers the commands; each sets ``func`` to a handler
``(ctx) -> exit code`` where ``ctx.args`` holds the parsed arguments (cli.CliContext). Failures print one line saying the reason on stderr (no
traceback) and exit 1. Also runnable alone: ``python -m gp_optout_desktop.cli_exclusion``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .exclusion import consult as consult_mod
from .exclusion.errors import ExclusionError
from .exclusion.format import MODE_WORDS, format_ts

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
    p.add_argument("--practice", metavar="ODS", help="refuse a set for any other practice")
    p.add_argument("--state", type=Path, metavar="FILE", help="remembers the highest revision seen; refuses older sets")
    p.set_defaults(func=run_consult)


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
