"""The integrity check on demand, for the `gp-optout` CLI (wired in by cli._command_modules):

    gp-optout --user NAME check [--full]

Unlock does not check the whole file (ADR 0011); this does, and exits 4 if the register is
damaged (writes are refused from then on in that session; restore the latest backup).
"""

from __future__ import annotations


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("check", help="check the register file for damage or tampering (any user)")
    p.add_argument("--full", action="store_true",
                   help="also check every index against its table (slower; a backup always does this)")
    p.set_defaults(func=run_check)


def run_check(ctx) -> int:
    from .cli import EXIT_STORE
    from .services import integrity

    result = integrity.check(ctx.session(), full=ctx.args.full, why="command line")
    if result.ok:
        ctx.out(f"{result.describe()} ({result.seconds:.1f} s)")
        return 0
    ctx.out(f"gp-optout: {result.problem}", err=True)
    return EXIT_STORE
