"""Who may do what, written out by hand, and checked against both the role table and the
services on a real register.

The table below is the practice's rule book, NOT derived from ``domain/roles.py``: a change
to the roles (a receptionist given ``rekey``) or to a service (an operation checking the
wrong permission, or none) shows up as a difference here. Every permission name the code
checks must appear in it: a new one fails ``test_every_permission_in_the_code_is_in_the_table``
until someone decides, here, who may use it.

For each role, every service operation is run as a real user of that role: an allowed one
works; a refused one raises the permission error, changes nothing, and leaves exactly one
``denied.<permission>`` row in the audit trail naming the user.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.domain.events import INCLUDE
from gp_optout_desktop.services import (audit, backup, codes, coding, exclusion, importer, letters, objections,
                                        patients, practice_list, reconcile, settings, templates, users)
from gp_optout_desktop.services import session as session_service
from gp_optout_desktop.services.session import Session
from gp_optout_desktop.store import audit as store_audit

R, G, M = roles.RECEPTIONIST, roles.GP, roles.MANAGER
Y, N = True, False

# permission                 receptionist  gp    practice manager
TABLE: dict[str, tuple[bool, bool, bool]] = {
    # the front desk: everyone
    "search":               (Y, Y, Y),
    "view_patient":         (Y, Y, Y),
    "add_patient":          (Y, Y, Y),
    "edit_patient":         (Y, Y, Y),
    "record_objection":     (Y, Y, Y),
    "record_withdrawal":    (Y, Y, Y),
    "record_include":       (Y, Y, Y),
    "mark_coded":           (Y, Y, Y),
    "queue_letter":         (Y, Y, Y),
    "signpost_ndoo":        (Y, Y, Y),
    "view_letters":         (Y, Y, Y),
    "view_coding":          (Y, Y, Y),
    "change_own_password":  (Y, Y, Y),
    # a clinical decision for the practice's GPs (and not the manager)
    "practice_optout":      (N, Y, N),
    # the practice manager only
    "print_letters":        (N, N, Y),
    "edit_templates":       (N, N, Y),
    "import_objections":    (N, N, Y),
    "import_practice_list": (N, N, Y),
    "export":               (N, N, Y),
    "manage_users":         (N, N, Y),
    "view_audit":           (N, N, Y),
    "backup":               (N, N, Y),
    "restore":              (N, N, Y),
    "settings":             (N, N, Y),
    "rekey":                (N, N, Y),
    "coding_worklist":      (N, N, Y),
    "reconcile":            (N, N, Y),
    "edit_codes":           (N, N, Y),
}
ROLE_COLUMN = {R: 0, G: 1, M: 2}
# Audit entries every user makes for themselves, and the manager-only acts that set the row
# digests' baseline: not role actions, so not in the table above, but named here too.
NOT_ROLE_ACTIONS = {"login", "session", "denied", "create", "upgrade"}

PASSWORDS = {"pm": "pm-password-1", "desk1": "desk1-password-1", "drgp": "drgp-password-1"}
USER_OF = {R: "desk1", G: "drgp", M: "pm"}
NEW_PASSWORD = "a-new-password-9"

SRC = Path(__file__).resolve().parents[2] / "gp_optout_desktop"


# ---- the table against the role table and the code ----------------------------------------

@pytest.mark.parametrize("role", [R, G, M])
def test_the_role_table_says_what_the_hand_written_table_says(role):
    differences = [(perm, expected[ROLE_COLUMN[role]], roles.allowed(role, perm))
                   for perm, expected in TABLE.items() if roles.allowed(role, perm) != expected[ROLE_COLUMN[role]]]
    assert differences == [], f"(permission, expected, roles.allowed) for {role}"
    assert roles.PERMISSIONS[role] == {p for p, e in TABLE.items() if e[ROLE_COLUMN[role]]}


def test_the_roles_are_exactly_the_three_in_the_table():
    assert set(roles.ROLES) == set(ROLE_COLUMN)


def _permission_names_in_code() -> dict[str, set[str]]:
    """Every permission name the code checks or records, by where it was found."""
    found: dict[str, set[str]] = {}
    patterns = [
        r"\.(?:require|write|read|read_committed|read_apart|read_store|search_store|apart_store)\(\s*\"([a-z_]+)\"",  # session.write("export") ...
        r"roles\.(?:allowed|require)\([^,()]+,\s*\"([a-z_]+)\"\)",     # roles.allowed(role, "export")
        r"ScreenSpec\(\s*\"[^\"]*\",\s*\"([a-z_]+)\"",                 # the screens each role sees
        r"\bperm=\"([a-z_]+)\"",                                       # audit entries' own permission
    ]
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for pattern in patterns:
            for name in re.findall(pattern, text):
                found.setdefault(name, set()).add(path.name)
        # objections.record chooses its permission from a small table of literals
        for block in re.findall(r"permission = \{(.*?)\}\.get\((.*?)\)\n", text, re.S):
            for name in re.findall(r"\"([a-z_]+)\"", " ".join(block)):
                found.setdefault(name, set()).add(path.name)
    return found


def test_every_permission_in_the_code_is_in_the_table():
    found = _permission_names_in_code()
    unknown = {name: sorted(where) for name, where in found.items() if name not in TABLE and name not in NOT_ROLE_ACTIONS}
    assert unknown == {}, "a permission the table does not list: decide here who may use it"
    # And the table lists nothing the code no longer checks.
    assert set(TABLE) - set(found) == set()
    assert set(TABLE) == roles.ALL_ACTIONS
    assert store_audit.SELF_PERMISSIONS | store_audit.BASELINE_PERMISSIONS == NOT_ROLE_ACTIONS


def test_a_permission_chosen_at_run_time_is_found_by_the_scan():
    """Calls whose permission is a variable are the ones a text scan could miss: each must be
    one of the places the scan understands."""
    variable_calls = []
    for path in SRC.rglob("*.py"):
        for m in re.finditer(r"(\w+)\.(?:require|write|read|read_committed|read_apart)\(\s*([a-z_]+)\s*[,)]",
                             path.read_text(encoding="utf-8")):
            if m.group(1) in ("session", "self", "live", "gp", "pm", "desk") or "session" in m.group(1):
                variable_calls.append((path.name, m.group(1), m.group(2)))
    assert sorted(variable_calls) == sorted([
        ("objections.py", "session", "permission"),  # record_objection / record_withdrawal / record_include
        ("session.py", "self", "permission"),        # write/read/read_committed/read_apart pass theirs to require
        ("session.py", "self", "permission"),
        ("session.py", "self", "permission"),
        ("session.py", "self", "permission"),
        ("session.py", "self", "permission"),        # read_store/search_store pass theirs to read/read_committed
        ("session.py", "self", "permission"),
        ("session.py", "self", "permission"),        # apart_store (the overview) passes its to read_apart
        ("server_session.py", "self", "permission"),  # the server session's write/read_store/search_store
        ("server_session.py", "self", "permission"),
        ("server_session.py", "self", "permission"),
    ])


# ---- the table against the services on a real register ------------------------------------

IMPORT_CSV = ("NHS Number,Surname,Forenames,Date of Birth,Postcode,Code,Date\n"
              "9990000018,Imported,Ina,1966-03-04,LS1 4AP,827241000000103,2024-01-05\n")
PRACTICE_LIST_CSV = ("NHS Number,Surname,Forenames,Date of Birth,Postcode,Registration status\n"
                     "9990000026,Listed,Lee,1971-02-03,LS1 4AP,Registered\n")


@pytest.fixture
def world(manager, register_dir, add_patient, tmp_path):
    """A practice with the three roles, patients with and without objections, a backup and a
    clinical-system export to reconcile against."""
    users.add(manager, "desk1", R, PASSWORDS["desk1"])
    users.add(manager, "drgp", G, PASSWORDS["drgp"])
    ids = {name: add_patient(manager, surname=name) for name in ("Alpha", "Beta", "Gamma", "Delta")}
    event = objections.record(manager, ids["Alpha"]).event_ids[0]
    export_file = tmp_path / "emis.csv"
    nhs_alpha = patients.view(manager, ids["Alpha"]).patient.nhs_number
    export_file.write_text("NHS Number,Surname,Forename,Date of Birth,Postcode,SNOMED Code,Event Date\r\n"
                           f"{nhs_alpha},Alpha,Alex,06-May-1970,LS1 4AP,827241000000103,01-Jan-2025\r\n"
                           "999 000 0042,Elsewhere,Eli,07-Jun-1971,LS1 4AP,827241000000103,02-Jan-2025\r\n")
    cohort = tmp_path / "cohort.csv"
    cohort.write_text(f"nhs_number\n{nhs_alpha}\n")
    result = reconcile.reconcile(manager, export_file)  # a run to report on and import from
    assert result.missing_rows
    backup.backup(manager, tmp_path / "before.gpob")
    manager.lock()
    return {"folder": register_dir, "ids": ids, "event": event, "tmp": tmp_path, "clinical_export": export_file,
            "backup": tmp_path / "before.gpob", "result": result, "cohort": cohort, "nhs_alpha": nhs_alpha}


def _restore(s: Session, w: dict):
    # Every user changed their password just before; the backup still has the old one.
    restored, _change = backup.restore(w["folder"], w["backup"], s.user, NEW_PASSWORD,
                                       backup_password=PASSWORDS[s.user])
    restored.lock()


# One real operation per permission, in an order where each allowed one can work: the
# manager's change of password, new recovery key and restore come last.
OPERATIONS = {
    "search": lambda s, w: patients.find(s, "Alpha"),
    "view_patient": lambda s, w: patients.view(s, w["ids"]["Alpha"]),
    "add_patient": lambda s, w: patients.add(s, surname="Added", forenames="Ada", dob="2001-02-03",
                                             postcode_raw="M1 1AE"),
    "edit_patient": lambda s, w: patients.edit(s, w["ids"]["Delta"], surname="Delta", forenames="Dee",
                                               dob="1970-05-06", postcode_raw="LS1 4AP"),
    "record_objection": lambda s, w: objections.record(s, w["ids"]["Beta"]),
    "record_withdrawal": lambda s, w: objections.record(s, w["ids"]["Alpha"], action="withdraw"),
    "record_include": lambda s, w: objections.record(s, w["ids"]["Gamma"], INCLUDE),
    "mark_coded": lambda s, w: objections.mark_coded(s, w["event"]),
    "queue_letter": lambda s, w: objections.type2_recorded_in_error(s, w["ids"]["Gamma"]),
    "signpost_ndoo": lambda s, w: objections.signpost_ndoo(s, w["ids"]["Gamma"]),
    "view_letters": lambda s, w: letters.pending(s),
    "view_coding": lambda s, w: coding.worklist(s),
    "practice_optout": lambda s, w: exclusion.set_practice_optout(s, "on", "Partners' meeting (matrix)"),
    "print_letters": lambda s, w: letters.preview(s),
    "edit_templates": lambda s, w: templates.current(s, "objection"),
    "import_objections": lambda s, w: importer.check(s, IMPORT_CSV),
    "import_practice_list": lambda s, w: practice_list.check(s, PRACTICE_LIST_CSV),
    "export": lambda s, w: exclusion.export(s, w["tmp"] / "exclusions"),
    "manage_users": lambda s, w: users.list_users(s),
    "view_audit": lambda s, w: audit.verify(s),
    "backup": lambda s, w: backup.backup(s, w["tmp"] / "matrix.gpob"),
    "settings": lambda s, w: settings.set_idle_lock_minutes(s, 10),
    "coding_worklist": lambda s, w: coding.export_csv(s, w["tmp"] / "worklist.csv"),
    "reconcile": lambda s, w: reconcile.reconcile(s, w["clinical_export"]),
    "edit_codes": lambda s, w: codes.history(s),
    "change_own_password": lambda s, w: users.change_own_password(s, NEW_PASSWORD),
    "rekey": lambda s, w: users.new_recovery_key(s),
    "restore": _restore,
}


def test_every_permission_has_an_operation():
    assert set(OPERATIONS) == set(TABLE)


def _audit_rows_after(session: Session, seq: int) -> list[tuple]:
    with session.register.reading() as conn:
        return conn.execute("SELECT user, action, outcome FROM audit WHERE seq > ? ORDER BY seq", (seq,)).fetchall()


def _top(session: Session) -> int:
    with session.register.reading() as conn:
        return conn.execute("SELECT max(seq) FROM audit").fetchone()[0]


@pytest.mark.parametrize("role", [R, G, M])
def test_each_role_can_do_exactly_what_the_table_says_and_refusals_are_audited(world, role, monkeypatch):
    asked: list[str] = []
    real_require = Session.require

    def require(self, permission):  # the real check; only remembers what was asked
        asked.append(permission)
        return real_require(self, permission)

    monkeypatch.setattr(Session, "require", require)
    user = USER_OF[role]
    session = session_service.unlock(world["folder"], user, PASSWORDS[user])
    wrong = []
    try:
        for perm, op in OPERATIONS.items():
            expected = TABLE[perm][ROLE_COLUMN[role]]
            asked.clear()
            top, revision = _top(session), session.revision()
            try:
                op(session, world)
                outcome = "done"
            except PermissionError as exc:
                outcome = "refused"
                if "may not" not in str(exc):
                    wrong.append((perm, "refusal without a clear message", str(exc)))
            except Exception as exc:  # noqa: BLE001 - an allowed operation must work: report which failed
                outcome = f"failed: {exc.__class__.__name__}: {exc}"
            if not asked or asked[0] != perm:
                wrong.append((perm, "checked the wrong permission first", asked[:3]))
            if expected and outcome != "done":
                wrong.append((perm, "should be allowed", outcome))
            elif not expected:
                if outcome != "refused":
                    wrong.append((perm, "should be refused", outcome))
                    continue
                # (a restore signs in to the live register itself: its login and lock are expected)
                rows = [r for r in _audit_rows_after(session, top) if r[1] not in ("login", "session.lock")]
                if rows != [(user, f"denied.{perm}", "denied")]:
                    wrong.append((perm, "refusal not audited as exactly one denied.<permission>", rows))
                if session.revision() != revision:
                    wrong.append((perm, "a refused operation changed the register", revision))
    finally:
        if session.register.is_open:
            session.lock()
    assert wrong == []


# ---- every service operation behind a refused permission -------------------------------------

def _restore_as_is(s: Session, w: dict):
    backup.restore(w["folder"], w["backup"], s.user, PASSWORDS[s.user])


# (permission, operation) for every public service operation whose permission some role is
# refused; the arguments are valid, so the permission is the only reason to refuse.
EVERY_OPERATION = [
    ("view_audit", "audit.verify", lambda s, w: audit.verify(s)),
    ("view_audit", "audit.query", lambda s, w: audit.query(s)),
    ("view_audit", "audit.export_csv", lambda s, w: audit.export_csv(s, [], w["tmp"] / "audit.csv")),
    ("backup", "backup.backup", lambda s, w: backup.backup(s, w["tmp"] / "b.gpob")),
    ("backup", "backup.last_backup", lambda s, w: backup.last_backup(s)),
    ("restore", "backup.restore", _restore_as_is),
    ("edit_codes", "codes.history", lambda s, w: codes.history(s)),
    ("edit_codes", "codes.save", lambda s, w: codes.save(s, "{}", "Correcting the table (matrix)")),
    ("edit_codes", "codes.reset", lambda s, w: codes.reset(s, "Back to the shipped table (matrix)")),
    ("settings", "coding.set_target_days", lambda s, w: coding.set_target_days(s, 10)),
    ("coding_worklist", "coding.export_csv", lambda s, w: coding.export_csv(s, w["tmp"] / "wl.csv")),
    ("coding_worklist", "coding.export_checklist", lambda s, w: coding.export_checklist(s, w["tmp"] / "wl.pdf")),
    ("export", "exclusion.public_key_pem", lambda s, w: exclusion.public_key_pem(s)),
    ("export", "exclusion.export_public_key", lambda s, w: exclusion.export_public_key(s, w["tmp"] / "k.pem")),
    ("export", "exclusion.replace_signing_key", lambda s, w: exclusion.replace_signing_key(s)),
    ("export", "exclusion.snapshot", lambda s, w: exclusion.snapshot(s)),
    ("export", "exclusion.export", lambda s, w: exclusion.export(s, w["tmp"] / "x")),
    ("export", "exclusion.national_check",
     lambda s, w: exclusion.national_check(s, w["cohort"], w["tmp"] / "to-check.csv")),
    ("practice_optout", "exclusion.set_practice_optout",
     lambda s, w: exclusion.set_practice_optout(s, "on", "Partners' meeting (matrix)")),
    ("import_objections", "importer.check", lambda s, w: importer.check(s, IMPORT_CSV)),
    ("import_objections", "importer.import_objections", lambda s, w: importer.import_objections(s, IMPORT_CSV)),
    ("import_objections", "reconcile.import_missing", lambda s, w: reconcile.import_missing(s, w["result"])),
    ("print_letters", "letters.print_batch", lambda s, w: letters.print_batch(s, w["tmp"] / "p.pdf")),
    ("print_letters", "letters.preview", lambda s, w: letters.preview(s)),
    ("print_letters", "letters.queue_practice_wide_notice", lambda s, w: letters.queue_practice_wide_notice(s)),
    ("print_letters", "letters.mark_sent", lambda s, w: letters.mark_sent(s, [1], s.today())),
    ("print_letters", "letters.reprint", lambda s, w: letters.reprint(s, w["nhs_alpha"], w["tmp"] / "r.pdf")),
    ("print_letters", "letters.queue_policy_change", lambda s, w: letters.queue_policy_change(s)),
    ("import_practice_list", "practice_list.check", lambda s, w: practice_list.check(s, PRACTICE_LIST_CSV)),
    ("import_practice_list", "practice_list.import_list",
     lambda s, w: practice_list.import_list(s, PRACTICE_LIST_CSV)),
    ("reconcile", "reconcile.reconcile", lambda s, w: reconcile.reconcile(s, w["clinical_export"])),
    ("reconcile", "reconcile.write_report",
     lambda s, w: reconcile.write_report(s, w["result"], w["tmp"] / "report.csv")),
    ("settings", "settings.set_idle_lock_minutes", lambda s, w: settings.set_idle_lock_minutes(s, 10)),
    ("settings", "settings.set_practice_details",
     lambda s, w: settings.set_practice_details(s, name="Renamed Surgery", address=["1 Road"])),
    ("edit_templates", "templates.current", lambda s, w: templates.current(s, "objection")),
    ("edit_templates", "templates.save_template",
     lambda s, w: templates.save_template(s, "objection", templates.current.__doc__ or "x")),
    ("edit_templates", "templates.use_installed", lambda s, w: templates.use_installed(s, "objection")),
    ("manage_users", "users.list_users", lambda s, w: users.list_users(s)),
    ("manage_users", "users.record_problems", lambda s, w: users.record_problems(s)),
    ("manage_users", "users.add", lambda s, w: users.add(s, "extra1", R, "extra1-password-1")),
    ("manage_users", "users.remove", lambda s, w: users.remove(s, "pm")),
    ("manage_users", "users.change_role", lambda s, w: users.change_role(s, "pm", R)),
    ("manage_users", "users.reset_password", lambda s, w: users.reset_password(s, "pm")),
    ("rekey", "users.rekey", lambda s, w: users.rekey(s, PASSWORDS[s.user])),
    ("rekey", "users.new_recovery_key", lambda s, w: users.new_recovery_key(s)),
]


def test_every_refusable_permission_has_its_operations_listed():
    refusable = {p for p, allowed in TABLE.items() if not all(allowed)}
    assert {p for p, _name, _op in EVERY_OPERATION} == refusable


@pytest.mark.parametrize("role", [R, G, M])
def test_every_operation_behind_a_refused_permission_is_refused_and_audited(world, role, monkeypatch):
    asked: list[str] = []
    real_require = Session.require

    def require(self, permission):
        asked.append(permission)
        return real_require(self, permission)

    monkeypatch.setattr(Session, "require", require)
    user = USER_OF[role]
    session = session_service.unlock(world["folder"], user, PASSWORDS[user])
    wrong, tried = [], 0
    try:
        for perm, name, op in EVERY_OPERATION:
            if TABLE[perm][ROLE_COLUMN[role]]:
                continue
            tried += 1
            asked.clear()
            top, revision = _top(session), session.revision()
            try:
                op(session, world)
                wrong.append((name, "was not refused"))
                continue
            except PermissionError as exc:
                if "may not" not in str(exc):
                    wrong.append((name, "refusal without a clear message", str(exc)))
            except Exception as exc:  # noqa: BLE001 - anything but the refusal is a finding
                wrong.append((name, f"failed instead of being refused: {exc.__class__.__name__}: {exc}"))
                continue
            if asked[:1] != [perm]:
                wrong.append((name, "checked another permission first", asked[:3]))
            rows = [r for r in _audit_rows_after(session, top) if r[1] not in ("login", "session.lock")]
            if rows != [(user, f"denied.{perm}", "denied")]:
                wrong.append((name, "refusal not audited as exactly one denied.<permission>", rows))
            if session.revision() != revision:
                wrong.append((name, "a refused operation changed the register"))
    finally:
        if session.register.is_open:
            session.lock()
    assert tried == sum(1 for p, _n, _o in EVERY_OPERATION if not TABLE[p][ROLE_COLUMN[role]])
    assert wrong == []
