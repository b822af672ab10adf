"""Key commands for the `gp-optout` CLI (wired in by cli._command_modules):

    gp-optout recovery-key new      # a new recovery key, shown once (practice manager)

Handlers take cli.CliContext and return an exit code; cli.main turns errors into one line.
"""

from __future__ import annotations


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("recovery-key", help="make a new recovery key, shown once (practice manager)")
    sub = p.add_subparsers(dest="recovery_cmd", required=True)
    sub.add_parser("new", help="replace the recovery key; the old one stops working")
    p.set_defaults(func=run_recovery_key)


def run_recovery_key(ctx) -> int:
    from .services import users

    change = users.new_recovery_key(ctx.session())
    ctx.out(change.summary)
    ctx.out(change.data["recovery_key"])
    return 0
