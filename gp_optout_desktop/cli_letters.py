"""Letters commands for the `gp-optout` CLI (wired in by cli._command_modules):

    gp-optout letters pending
    gp-optout letters print --out FILE.pdf [--split DIR] [--sent-on DATE]
    gp-optout letters reprint --nhs N [--out FILE.pdf]
    gp-optout letters notify-practice-wide
    gp-optout letters policy-change [--yes]                # to every patient whose Type 1 objection is in force
    gp-optout letters type2-in-error --nhs N              # a Type 2 asked for after the cut-off
    gp-optout letters transferred --nhs N                 # an objector who left: it travels by GP2GP
    gp-optout letters template show KIND [--out FILE]      # the wording in use
    gp-optout letters template save KIND --from FILE       # the practice's own wording
    gp-optout letters template standard KIND               # back to the installed wording

Handlers take cli.CliContext and return an exit code; cli.main turns errors into one line.
The pending list shows names and NHS numbers because that is its purpose (the desk works
from it); nothing else here prints an identifier.
"""

from __future__ import annotations

from pathlib import Path
from .domain.uk_time import uk_today


def add_commands(subparsers) -> None:
    from .cli import _date, _nhs

    p = subparsers.add_parser("letters", help="confirmation letters: the queue, printing, reprints")
    lsub = p.add_subparsers(dest="letters_cmd", required=True)
    lsub.add_parser("pending", help="letters waiting to be sent, nearest deadline first")
    q = lsub.add_parser("print", help="print all pending letters into one PDF and mark them sent (practice manager)")
    q.add_argument("--out", required=True, type=Path, help="the PDF to write")
    q.add_argument("--split", type=Path, metavar="DIR", help="also write one PDF per letter into DIR")
    q.add_argument("--sent-on", type=_date, help="the date they are posted (default today)")
    q = lsub.add_parser("reprint", help="reprint a patient's latest letter (practice manager)")
    q.add_argument("--nhs", required=True, type=_nhs)
    q.add_argument("--out", type=Path, help="the PDF to write (default reprint-DATE.pdf in this folder)")
    q.add_argument("--letter", type=int, help="a particular letter id instead of the latest")
    lsub.add_parser("notify-practice-wide",
                    help="queue the practice-wide opt-out notice, one to each patient aged 16 or over not yet told "
                         "(practice manager)")
    q = lsub.add_parser("policy-change", help="queue the Type 1 policy-change letter (the practice's own wording) "
                                              "to every patient whose objection is in force (practice manager)")
    q.add_argument("--yes", action="store_true", help="queue them; without it, only say how many it would be")
    q = lsub.add_parser("type2-in-error", help="queue the letter for a Type 2 objection asked for or coded after "
                                               "11 October 2018 (not processed; signposts the National Data Opt-out)")
    q.add_argument("--nhs", required=True, type=_nhs)
    q = lsub.add_parser("transferred", help="queue the letter for an objector who left the practice: the objection "
                                            "travels with their record (GP2GP); check it at the new practice")
    q.add_argument("--nhs", required=True, type=_nhs)
    t = lsub.add_parser("template", help="the wording of a letter: show it, save the practice's own, or go back "
                                         "to the installed wording (practice manager)")
    tsub = t.add_subparsers(dest="template_cmd", required=True)
    from .letters.model import KINDS

    for name, helptext in (("show", "print the wording in use (or write it to --out)"),
                           ("save", "check and save the practice's own wording from --from FILE"),
                           ("standard", "use the wording installed with the app again")):
        q = tsub.add_parser(name, help=helptext)
        q.add_argument("kind", choices=KINDS)
        if name == "show":
            q.add_argument("--out", type=Path, help="write the template to this file to edit it")
        if name == "save":
            q.add_argument("--from", dest="source", required=True, type=Path, help="the edited template (UTF-8)")
    p.set_defaults(func=run_letters)


def run_template(ctx) -> int:
    from .domain.errors import ValidationError
    from .letters.atomic import write_atomic
    from .services import templates

    a = ctx.args
    session = ctx.session()
    if a.template_cmd == "show":
        found = templates.current(session, a.kind)
        if a.out:
            write_atomic(a.out, found.template.source.encode("utf-8"))
            ctx.out(f"Wrote version {found.template.version} to {a.out}.")
        else:
            ctx.out(found.template.source.rstrip("\n"))
        return 0
    if a.template_cmd == "save":
        try:
            text = a.source.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ValidationError(f"{a.source.name} is not UTF-8 text: save it as UTF-8.", "template") from None
        change = templates.save_template(session, a.kind, text)
        ctx.out(change.summary)
        for warning in change.warnings:
            ctx.out(f"Warning: {warning}")
        return 0
    ctx.out(templates.use_installed(session, a.kind).summary)
    return 0


def run_letters(ctx) -> int:
    from .services import letters

    a = ctx.args
    if a.letters_cmd == "template":
        return run_template(ctx)
    session = ctx.session()
    if a.letters_cmd == "pending":
        rows = letters.pending(session)
        held = letters.held(session)
        if held:  # promised in an acknowledgement: they print once the codes are confirmed
            ctx.out(f"{len(held)} confirmation{'s wait' if len(held) != 1 else ' waits'} for codes to be confirmed "
                    "in the clinical system (coding worklist, then reconciliation).")
        if not rows:
            ctx.out("No letters are waiting.")
            return 0
        for r in rows:
            when = f"OVERDUE by {-r.days_left} day{'s' if r.days_left != -1 else ''}" if r.overdue \
                else f"{r.days_left} days left"
            ctx.out(f"{letters.reference(r.letter_id)}  due {r.due.isoformat()} ({when})  {r.kind_label:<42} "
                    f"{r.nhs_display:<14} {r.patient_name}")
        overdue = sum(1 for r in rows if r.overdue)
        ctx.out(f"{len(rows)} waiting, {overdue} overdue.")
        return 0
    if a.letters_cmd == "type2-in-error":
        from .services import objections, patients

        change = objections.type2_recorded_in_error(session, patients.by_nhs(session, a.nhs).patient_id)
        ctx.out(change.summary)
        return 0
    if a.letters_cmd == "transferred":
        ctx.out(letters.queue_transferred(session, a.nhs).summary)
        return 0
    if a.letters_cmd == "policy-change":
        if not a.yes:
            n = letters.policy_change_audience(session)
            ctx.out(f"{n:,} patient{'s have' if n != 1 else ' has'} a Type 1 objection in force. "
                    "Run again with --yes to queue the policy-change letter to them.")
            return 0
        ctx.out(letters.queue_policy_change(session).summary)
        return 0
    if a.letters_cmd == "notify-practice-wide":
        change = letters.queue_practice_wide_notice(session)
        ctx.out(change.summary)
        return 0
    if a.letters_cmd == "print":
        change = letters.print_batch(session, a.out, split_dir=a.split, sent_on=a.sent_on)
        ctx.out(change.summary)
        ctx.out(f"PDF: {change.data['path']}")
        if change.data.get("split_dir"):
            ctx.out(f"One file per letter in: {change.data['split_dir']}")
        return 0
    out = a.out or Path(f"reprint-{uk_today().isoformat()}.pdf")
    change = letters.reprint(session, a.nhs, out, letter_id=a.letter)
    ctx.out(change.summary)
    ctx.out(f"PDF: {change.data['path']}")
    return 0
