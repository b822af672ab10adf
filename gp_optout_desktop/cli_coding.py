"""Coding in the clinical system, for the `gp-optout` CLI (wired in by cli._command_modules):

    gp-optout coding worklist [--out FILE [--pdf]]     # codes still to key; CSV or a printable checklist
    gp-optout coding target --working-days N           # the practice's coding target (practice manager)
    gp-optout coding practice-wide                     # practice-wide adds/removals still to do
    gp-optout reconcile --from FILE [--out report.csv] [--encoding cp1252] [--import-missing]

Handlers take cli.CliContext and return an exit code. Without --out the worklist is printed
(its purpose is to be worked through, like the letters queue); with --out the terminal gets
only the summary. Reconciliation problems are printed by row number, never a patient.
"""

from __future__ import annotations

import sys
from pathlib import Path

MAX_PROBLEMS_SHOWN = 50


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("coding", help="the coding worklist: codes to add to or remove from the clinical system")
    csub = p.add_subparsers(dest="coding_cmd", required=True)
    q = csub.add_parser("worklist", help="every code not yet confirmed in the clinical system, by due date")
    q.add_argument("--out", type=Path, metavar="FILE", help="write it as CSV (practice manager)")
    q.add_argument("--pdf", action="store_true", help="with --out: a printable checklist PDF instead of CSV")
    q = csub.add_parser("target", help="the coding target in working days (practice manager)")
    q.add_argument("--working-days", type=int, required=True, metavar="N")
    csub.add_parser("practice-wide", help="what the practice-wide opt-out still asks of the clinical system")
    p.set_defaults(func=run_coding)

    p = subparsers.add_parser("reconcile", help="compare the register with the clinical system's export of the "
                                                "Type 1/Type 2 codes; confirms the codes found (practice manager)")
    p.add_argument("--from", dest="source", required=True, type=Path,
                   help="the clinical system's search export (the import's columns), comma or semicolon separated")
    p.add_argument("--out", type=Path, metavar="FILE", help="write the report as CSV")
    p.add_argument("--encoding", choices=("utf-8", "cp1252"),
                   help="the file's encoding when it is not UTF-8 (cp1252: Windows-1252)")
    p.add_argument("--import-missing", action="store_true",
                   help="then import the codes in the clinical system that the register lacks (b)")
    p.set_defaults(func=run_reconcile)


def run_coding(ctx) -> int:
    from .services import coding

    a = ctx.args
    session = ctx.session()
    if a.coding_cmd == "target":
        ctx.out(coding.set_target_days(session, a.working_days).summary)
        return 0
    if a.coding_cmd == "practice-wide":
        s = coding.practice_wide_summary(session)
        ctx.out(f"Practice-wide codes: {s.to_add:,} to add, {s.to_remove:,} to remove, {s.in_place:,} confirmed in "
                f"place; {s.spared:,} patients object individually and keep their code.")
        return 0
    if a.out:
        change = coding.export_checklist(session, a.out) if a.pdf else coding.export_csv(session, a.out)
        ctx.out(f"{change.summary} Written to {a.out}.")
        return 0
    if a.pdf:
        ctx.out("--pdf needs --out FILE.", err=True)
        return 1
    wl = coding.worklist(session)
    ctx.out(wl.describe())
    for i in wl.items:
        late = "OVERDUE " if i.overdue(wl.today) else ""
        marked = f" (marked by {i.marked_by}, not yet confirmed)" if i.marked_by else ""
        nhs = f"{i.nhs_number[:3]} {i.nhs_number[3:6]} {i.nhs_number[6:]}" if i.nhs_number else "no NHS number"
        ctx.out(f"{late}due {i.due:%d/%m/%Y}  {i.op.upper():6} {nhs}  {i.name} ({i.dob:%d/%m/%Y})  "
                f"{i.code.snomed} [{i.code.read_v2}/{i.code.ctv3}] dated {i.record_date:%d/%m/%Y}"
                f"{' practice-wide' if i.source == 'practice-wide' else ''}{marked}")
    return 0


def run_reconcile(ctx) -> int:
    from .domain.import_rows import ImportRefused
    from .services import reconcile

    a = ctx.args
    session = ctx.session()
    try:
        result = reconcile.reconcile(session, a.source, a.encoding)
    except ImportRefused as exc:
        print(f"gp-optout: {exc}", file=sys.stderr)
        for problem in exc.problems[:MAX_PROBLEMS_SHOWN]:
            print(f"  {problem}", file=sys.stderr)
        if len(exc.problems) > MAX_PROBLEMS_SHOWN:
            print(f"  ... and {len(exc.problems) - MAX_PROBLEMS_SHOWN:,} more.", file=sys.stderr)
        return 1
    ctx.out(result.describe())
    if a.out:
        reconcile.write_report(session, result, a.out)
        ctx.out(f"Report written to {a.out}.")
    if a.import_missing and result.missing_rows:
        ctx.out(reconcile.import_missing(session, result).summary)
    elif result.missing_rows:
        ctx.out("Run again with --import-missing to bring (b) into the register.")
    return 0
