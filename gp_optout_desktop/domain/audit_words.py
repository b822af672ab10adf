"""The audit trail in words for the people who read it (a practice manager, an auditor):
"Printed confirmation letters", NHS numbers as 999 123 4567, details as short phrases. The
stored rows keep their codes; this is only how they are shown."""

from __future__ import annotations

import re

from . import nhs_number

ACTIONS = {
    "login": "Unlocked the register",
    "session.lock": "Locked the register",
    "register.create": "Created the register",
    "register.backup": "Made a backup",
    "register.backup.verified": "Checked a backup",
    "register.restore": "Restored a backup",
    "register.restore.requested": "Asked to restore a backup",
    "register.rekey": "Re-encrypted the register with a new key",
    "register.rekey_epoch": "Closed the audit trail under the old key (re-key: the entries after it are under the new key)",
    "register.check": "Checked the register's integrity",
    "register.upgrade": "Upgraded the register to role-bound keys",
    "register.attest": "Signed the queued letters into the audit (first unlock on this version)",
    "register.recovery_key": "Made a new recovery key",
    "register.moved_to_server": "Moved the register to the server (this file is now read-only)",
    "register.migrate": "Started the server register from a register file (its checked trail archived)",
    "migrate.users": "Carried the users over from the register file",
    "migrate.events": "Carried the objections over from the register file",
    "migrate.marks": "Carried the coded and confirmed marks over from the register file",
    "migrate.rows": "Carried letters, settings and the practice-wide opt-out over from the register file",
    "migrate.archive": "Archived the register file's audit trail on the server",
    "migrate.logins": "Gave each user of the register file their login on the server",
    "migrate.signing_key": "Carried the exclusion file's signing key over to the server's managers",
    "register.export": "Exported the practice from the server (an encrypted register backup)",
    "register.from_server": "Made this register from the practice's export from the server (its trail archived)",
    "codes.save": "Corrected the code table",
    "codes.reset": "Went back to the code table shipped with the app",
    "demo.generate": "Made demo patients",
    "patient.create": "Added a patient",
    "patient.update": "Corrected a patient's details",
    "patient.read": "Opened a patient's record",
    "patient.merge": "Merged a superseded NHS number into the current one",
    "patient.registration": "Changed a patient's registration (practice list)",
    "type1.register": "Recorded a Type 1 objection",
    "type1.withdraw": "Recorded a Type 1 withdrawal",
    "type2.register": "Recorded a Type 2 objection",
    "type2.withdraw": "Recorded a Type 2 withdrawal",
    "include.register": "Recorded a request to be included (practice-wide opt-out)",
    "include.withdraw": "Withdrew a request to be included",
    "event.coded": "Marked an event as coded in the clinical system",
    "ndoo.signposted": "Told the patient how to set the National Data Opt-out",
    "letter.queue": "Queued a letter",
    "letter.queue_practice_wide": "Queued practice-wide opt-out notices",
    "letter.queue_policy_change": "Queued policy-change letters",
    "letter.preview": "Previewed letters",
    "letter.print": "Printed letters",
    "letter.reprint": "Reprinted a letter",
    "letter.sent": "Marked letters as sent",
    "letter.cancel": "Took letters off the queue",
    "template.save": "Saved the practice's own letter wording",
    "template.use_installed": "Went back to the installed letter wording",
    "import.objections": "Imported objections from the clinical system",
    "import.practice_list": "Imported the practice's patient list",
    "reconcile.run": "Reconciled the register with the clinical system",
    "reconcile.report": "Wrote a reconciliation report",
    "coding.worklist.csv": "Exported the coding worklist",
    "coding.worklist.checklist": "Printed the coding checklist",
    "coding.practice_wide.add": "Listed the practice-wide codes to add",
    "coding.practice_wide.remove": "Listed the practice-wide codes to remove",
    "exclusion.export": "Wrote the exclusion file",
    "exclusion.national_check": "Wrote a file for the national opt-out check",
    "export.public_key": "Exported the exclusion file's public key",
    "export.signing_key_created": "Created the exclusion file's signing key",
    "export.manager_key_given": "Gave a practice manager the key that signs the exclusion file",
    "export.signing_key_replaced": "Replaced the exclusion file's signing key",
    "export.signing_key_read": "Used the exclusion file's signing key",
    "practice_optout.on": "Turned the practice-wide opt-out on",
    "practice_optout.off": "Lifted the practice-wide opt-out",
    "audit.read": "Read the audit trail",
    "audit.export": "Exported the audit trail",
    "audit.verify": "Verified the audit trail",
    "settings.practice": "Changed the practice's details",
    "settings.idle_lock": "Changed the idle lock",
    "settings.coding_target": "Changed the coding target",
    "user.add": "Added a user",
    "user.remove": "Removed a user",
    "user.role": "Changed a user's role",
    "user.change_password": "Changed their password",
    "user.key_rewrapped": "Re-wrapped their key with the current key-derivation settings",
    "user.reset_password": "Reset a user's password",
    "user.key_slot": "Stored a user's key slot on the server",
}
OUTCOMES = {"ok": "", "denied": "Refused", "failed": "Failed"}
_WORDS = {"nhs": "NHS number", "ods": "ODS code", "rows": "rows", "letters": "letters", "letter": "letter",
          "kind": "kind", "form": "form", "event": "event", "events": "events", "via": "how"}
_PAIR = re.compile(r"([a-z_]+)=(\S+)")


def action_words(action: str) -> str:
    if action in ACTIONS:
        return ACTIONS[action]
    if action.startswith("denied."):
        return f"Was refused: {action.removeprefix('denied.').replace('_', ' ')}"
    return action.replace(".", ": ").replace("_", " ").capitalize()  # a newer action: still readable


def patient_words(ref: str) -> str:
    """NHS numbers 3-3-4; the register's own id (patients without a number) named as such."""
    if not ref:
        return ""
    if ref.isdigit() and len(ref) == 10:
        return nhs_number.display(ref)
    if ref.startswith("id:"):
        return f"record {ref[3:]} (no NHS number)"
    return ref


def detail_words(detail: str) -> str:
    """'letters=3 kind=type2_in_error' -> 'letters 3, kind type2 in error'."""
    def one(m: re.Match) -> str:
        key, value = m.group(1), m.group(2)
        shown = nhs_number.display(value) if value.isdigit() and len(value) == 10 else value.replace("_", " ")
        return f"{_WORDS.get(key, key.replace('_', ' '))} {shown},"

    return _PAIR.sub(one, detail).rstrip(",").replace(",,", ",")
