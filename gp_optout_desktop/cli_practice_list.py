"""The practice's patient list for the `gp-optout` CLI (found by cli._command_modules):

    gp-optout practice-list import --from FILE [--check]   # practice manager; all rows or none

Only counts are printed, and problems by row number: the file's patients are never echoed.
"""

from __future__ import annotations

from pathlib import Path


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("practice-list", help="bring the register up to date with the practice's patient list "
                                                    "(registered, left, deceased, merged records; practice manager)")
    psub = p.add_subparsers(dest="practice_list_cmd", required=True)
    q = psub.add_parser("import", help="import the clinical system's registered-patients export (CSV; all rows or none)")
    q.add_argument("--from", dest="source", required=True, type=Path, help="the CSV file")
    q.add_argument("--check", action="store_true", help="check the file and say what would change; write nothing")
    p.set_defaults(func=run_practice_list)


def run_practice_list(ctx) -> int:
    from .cli import report_refused
    from .domain.import_rows import ImportRefused
    from .services import importer, practice_list

    a = ctx.args
    session = ctx.session()
    try:
        text = importer.read_csv_file(a.source)
        if a.check:
            ctx.out(f"Checked, nothing written. The file has {practice_list.check(session, text).describe(done=False)}")
        else:
            ctx.out(practice_list.import_list(session, text).summary)
    except ImportRefused as exc:
        return report_refused(exc)
    return 0
