"""Drills for issue 11 (docs/adr/0006): for each lower role, a script holding only that role's
password and write access to the register folder attempts forgery, elevation, audit erasure,
a same-length chain rewrite and direct edits of another patient's events or the practice-wide
policy. Each attempt is refused, or reported by a practice manager's ``audit verify``.

Findings 1 and 2 of the issue are reproduced here and now fail closed.
"""

from __future__ import annotations

import json

import pytest

from gp_optout_desktop import cli
from gp_optout_desktop.domain import roles
from gp_optout_desktop.services import audit, exclusion, objections, session as session_service, users
from gp_optout_desktop.store import certs, exclusion_repo, keyfile
from gp_optout_desktop.store.errors import KeyDamaged, RecordNotCertified

from insider import Insider

PASSWORDS = {"pm": "pm-password-1", "desk1": "desk1-password-1", "drgp": "drgp-password-1"}
ROLE_USERS = {roles.RECEPTIONIST: "desk1", roles.GP: "drgp"}


@pytest.fixture
def practice(manager, register_dir, add_patient, tmp_path):
    """A register with a manager, a receptionist and a GP, objections, a practice-wide
    policy set by the GP and an exclusion file exported (so its signing key exists)."""
    users.add(manager, "desk1", roles.RECEPTIONIST, PASSWORDS["desk1"])
    users.add(manager, "drgp", roles.GP, PASSWORDS["drgp"])
    first, second = add_patient(manager, surname="Alpha"), add_patient(manager, surname="Beta")
    objections.record(manager, first)
    objections.record(manager, second)
    exclusion.export(manager, tmp_path / "exclusions")
    with manager.register.reading() as conn:
        seed = exclusion_repo.signing_key(conn, manager.register.manager_key, manager.register.keys.register_id)
    manager.lock()
    gp = session_service.unlock(register_dir, "drgp", PASSWORDS["drgp"])
    exclusion.set_practice_optout(gp, "on", "Partners meeting (drill)")
    gp.lock()
    desk = session_service.unlock(register_dir, "desk1", PASSWORDS["desk1"])
    objections.record(desk, first, action="withdraw")  # a receptionist's own, legitimate entry
    desk.lock()
    return {"folder": register_dir, "patients": (first, second), "seed": seed}


def manager_verify(folder):
    pm = session_service.unlock(folder, "pm", PASSWORDS["pm"])
    try:
        return audit.verify(pm)
    finally:
        pm.lock()


def run_command_as(folder, user):
    """Any ordinary command afterwards (the insider covering their tracks, or a colleague)."""
    session = session_service.unlock(folder, user, PASSWORDS[user])
    session.lock()


def test_the_untouched_practice_verifies(practice):
    result = manager_verify(practice["folder"])
    assert result.ok, result.problems


# ---- finding 1: the signing key and the manager key are out of reach ------------------------

@pytest.mark.parametrize("role", sorted(ROLE_USERS))
def test_no_lower_role_can_read_the_exclusion_signing_key_or_the_manager_key(practice, role):
    user = ROLE_USERS[role]
    insider = Insider(practice["folder"], user, PASSWORDS[user])
    try:
        readable = insider.everything_readable()
        assert insider.slot.get(certs.MANAGER_SECRET) is None
        assert not insider.keys.has_secret(user, certs.MANAGER_SECRET)
    finally:
        insider.close()
    seed = practice["seed"]
    assert seed.hex().encode() not in readable and seed not in readable
    import base64

    assert base64.b64encode(seed) not in readable
    # The old plaintext place is empty: a script that read it before finds nothing to sign with.
    assert b"export_signing_key\"" not in readable.replace(b"export_signing_key_sealed", b"")


@pytest.mark.parametrize("role", sorted(ROLE_USERS))
def test_role_elevation_in_the_database_is_refused_at_unlock_and_reported(practice, role, monkeypatch, capsys):
    user = ROLE_USERS[role]
    insider = Insider(practice["folder"], user, PASSWORDS[user])
    insider.sql("UPDATE users SET role = 'manager' WHERE name = ?", user)
    insider.close()
    with pytest.raises(RecordNotCertified, match="does not match its certificate"):
        session_service.unlock(practice["folder"], user, PASSWORDS[user])
    monkeypatch.setenv("GP_OPTOUT_REGISTER", str(practice["folder"]))
    monkeypatch.setenv("GP_OPTOUT_PASSWORD", PASSWORDS[user])
    assert cli.main(["--user", user, "status", "--nhs", "9990000018"]) == 4
    assert "certificate" in capsys.readouterr().err
    monkeypatch.setenv("GP_OPTOUT_PASSWORD", PASSWORDS["pm"])
    assert cli.main(["--user", "pm", "user", "list"]) == 4
    captured = capsys.readouterr()
    assert f"user {user}'s record (role manager, active) differs from its certificate (role {role}" in captured.err
    result = manager_verify(practice["folder"])
    assert not result.ok and any("users table was changed outside the app" in p for p in result.problems)
    assert any(f"{user}'s record" in p for p in result.problems)


@pytest.mark.parametrize("role", sorted(ROLE_USERS))
def test_role_elevation_through_the_key_file_is_refused(practice, role):
    """Copying a manager's wrapped manager key into one's own slot: it is bound to the manager's
    password-derived key and name, so it does not open, and the unlock is refused as damage."""
    user = ROLE_USERS[role]
    path = practice["folder"] / "register.keys"
    data = json.loads(path.read_text())
    data["users"][user]["secrets"]["manager"] = data["users"]["pm"]["secrets"]["manager"]
    path.write_text(json.dumps(data))
    with pytest.raises(KeyDamaged):
        session_service.unlock(practice["folder"], user, PASSWORDS[user])


@pytest.mark.parametrize("role", sorted(ROLE_USERS))
def test_a_forged_certificate_or_manager_key_is_reported(practice, role):
    """The careful insider: their own key pair as 'manager key', a certificate making them a
    practice manager, and both copies of the manager public key replaced."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    user = ROLE_USERS[role]
    fake_manager_key = certs.new_manager_key()
    insider = Insider(practice["folder"], user, PASSWORDS[user])
    signer = insider.own_signer()
    fake_pub = certs.manager_public_hex(fake_manager_key)
    insider.sql("UPDATE meta SET value = ? WHERE key = 'manager_pub'", json.dumps(fake_pub))
    insider.sql("UPDATE users SET role = 'manager' WHERE name = ?", user)
    rows = insider.conn.execute("SELECT max(seq) FROM audit").fetchone()[0]
    insider.conn.execute("BEGIN IMMEDIATE")
    certs.issue(insider.conn, fake_manager_key, insider.keys.register_id, name=user, role="manager", active=True,
                audit_pub=certs.raw_public(signer.key), from_seq=rows + 1)
    insider.conn.execute("COMMIT")
    insider.close()
    data = json.loads((practice["folder"] / "register.keys").read_text())
    data["manager_pub"] = fake_pub
    (practice["folder"] / "register.keys").write_text(json.dumps(data))
    del Ed25519PrivateKey
    # The practice manager's own slot derives the real public key: the swap is found at once.
    with pytest.raises(RecordNotCertified, match="was replaced"):
        session_service.unlock(practice["folder"], "pm", PASSWORDS["pm"])


# ---- finding 2: audit erasure, then commands ------------------------------------------------

@pytest.mark.parametrize("role", sorted(ROLE_USERS))
def test_deleting_the_newest_entries_then_running_commands_is_reported(practice, role):
    user = ROLE_USERS[role]
    insider = Insider(practice["folder"], user, PASSWORDS[user])
    top = insider.conn.execute("SELECT max(seq) FROM audit").fetchone()[0]
    insider.sql("DELETE FROM audit WHERE seq > ?", top - 4)
    insider.close()
    for _ in range(6):  # more commands than rows deleted: the sequence passes the old head again
        run_command_as(practice["folder"], user)
    run_command_as(practice["folder"], "drgp" if user == "desk1" else "desk1")
    result = manager_verify(practice["folder"])
    assert not result.ok
    assert any(f"entry {top}" in p and "differs" in p or "missing" in p for p in result.problems), result.problems
    # The head kept outside did not move onto the new chain: the evidence stays.
    kept = keyfile.KeyFile.load(practice["folder"] / "register.keys").data["audit_head"]
    assert kept["seq"] == top


@pytest.mark.parametrize("role", sorted(ROLE_USERS))
def test_deleting_the_newest_entries_and_rewriting_every_head_in_reach_is_still_reported(practice, role):
    """Also the head in the key file and in the register rewritten (signed with the insider's
    own key): the head signed by the manager key, which they cannot forge, still differs."""
    from gp_optout_desktop.store.audit import Head

    user = ROLE_USERS[role]
    insider = Insider(practice["folder"], user, PASSWORDS[user])
    top = insider.conn.execute("SELECT max(seq) FROM audit").fetchone()[0]
    insider.sql("DELETE FROM audit WHERE seq > ?", top - 3)
    seq, mac = insider.conn.execute("SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    signer = insider.own_signer()
    head = Head(seq, mac)
    forged = Head(seq, mac, str(signer.serial), signer.key.sign(head.signed_bytes(insider.keys.register_id)).hex())
    insider.sql("UPDATE meta SET value = ? WHERE key = 'audit_head'", json.dumps(forged.as_dict()))
    insider.close()
    path = practice["folder"] / "register.keys"
    data = json.loads(path.read_text())
    data["audit_head"] = forged.as_dict()
    path.write_text(json.dumps(data))
    result = manager_verify(practice["folder"])
    assert not result.ok
    assert any("signed by a practice manager" in p or "table was changed" in p for p in result.problems), \
        result.problems


# ---- rewrites and direct edits --------------------------------------------------------------

@pytest.mark.parametrize("role", sorted(ROLE_USERS))
def test_a_same_length_rewrite_of_the_chain_is_reported(practice, role):
    """Every entry from the manager's export on rewritten (same count, same seqs), re-chained
    and re-signed with the insider's own key: the entries still name their writers."""
    from gp_optout_desktop.store.audit import SIGNED_FIELDS, entry_hash

    user = ROLE_USERS[role]
    insider = Insider(practice["folder"], user, PASSWORDS[user])
    signer = insider.own_signer()
    start = insider.conn.execute("SELECT min(seq) FROM audit WHERE action = 'exclusion.export'").fetchone()[0]
    prev = insider.conn.execute("SELECT mac FROM audit WHERE seq = ?", (start - 1,)).fetchone()[0]
    rows = insider.conn.execute(f"SELECT {', '.join(SIGNED_FIELDS)} FROM audit WHERE seq >= ? ORDER BY seq",
                                (start,)).fetchall()
    insider.conn.execute("BEGIN IMMEDIATE")
    for values in rows:
        row = dict(zip(SIGNED_FIELDS, values))
        row["detail"] = row["detail"] + " (rewritten)"
        row["signer"] = str(signer.serial)
        mac = entry_hash(prev, row)
        insider.conn.execute("UPDATE audit SET detail = ?, signer = ?, prev = ?, mac = ?, sig = ? WHERE seq = ?",
                             (row["detail"], row["signer"], prev, mac, signer.key.sign(bytes.fromhex(mac)).hex(),
                              row["seq"]))
        prev = mac
    insider.conn.execute("COMMIT")
    insider.close()
    result = manager_verify(practice["folder"])
    assert not result.ok and f"entry {start} names pm but was signed by {user}" in result.problem


@pytest.mark.parametrize("role", sorted(ROLE_USERS))
def test_a_direct_edit_of_another_patients_events_is_reported(practice, role):
    user = ROLE_USERS[role]
    _first, second = practice["patients"]
    insider = Insider(practice["folder"], user, PASSWORDS[user])
    insider.sql("UPDATE events SET action = 'withdraw' WHERE patient_id = ?", second)
    insider.close()
    run_command_as(practice["folder"], user)
    result = manager_verify(practice["folder"])
    assert not result.ok and any("events table was changed outside the app" in p for p in result.problems)


@pytest.mark.parametrize("role", sorted(ROLE_USERS))
def test_a_direct_edit_of_the_practice_wide_policy_is_reported(practice, role):
    user = ROLE_USERS[role]
    insider = Insider(practice["folder"], user, PASSWORDS[user])
    insider.sql("UPDATE policy SET state = 'off'")
    insider.close()
    result = manager_verify(practice["folder"])
    assert not result.ok and any("policy table was changed outside the app" in p for p in result.problems)


def test_a_receptionist_signing_a_policy_change_as_their_own_is_reported_as_beyond_their_role(practice):
    insider = Insider(practice["folder"], "desk1", PASSWORDS["desk1"])
    insider.signed_write("UPDATE policy SET state = 'off'", perm="practice_optout", action="policy.set",
                         role=roles.RECEPTIONIST)
    insider.close()
    result = manager_verify(practice["folder"])
    assert not result.ok and "needs 'practice_optout', which a receptionist may not do" in result.problem


def test_a_receptionist_disguising_a_policy_change_under_a_desk_permission_is_reported(practice):
    insider = Insider(practice["folder"], "desk1", PASSWORDS["desk1"])
    insider.signed_write("UPDATE policy SET state = 'off'", perm="record_objection", action="type1.register",
                         role=roles.RECEPTIONIST)
    insider.close()
    result = manager_verify(practice["folder"])
    assert not result.ok and "changed the policy table under 'record_objection'" in result.problem


@pytest.mark.parametrize("role", sorted(ROLE_USERS))
def test_a_hand_edit_within_the_role_signed_as_oneself_is_accepted_and_attributed(practice, role):
    """What a role may do, done by hand and signed as oneself, is that user's act: verify
    accepts it and the entry names them (the issue's 'attributed to them')."""
    user = ROLE_USERS[role]
    _first, second = practice["patients"]
    insider = Insider(practice["folder"], user, PASSWORDS[user])
    insider.signed_write("UPDATE events SET via = 'letter' WHERE patient_id = ?", second, perm="record_objection",
                         action="type1.edit", role=role)
    last_user = insider.conn.execute("SELECT user, perm FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    insider.close()
    assert tuple(last_user) == (user, "record_objection")
    result = manager_verify(practice["folder"])
    assert result.ok, result.problems


def test_the_gp_sets_the_practice_wide_policy_without_the_manager_key(practice):
    gp = session_service.unlock(practice["folder"], "drgp", PASSWORDS["drgp"])
    try:
        assert gp.register.manager_key is None
        exclusion.set_practice_optout(gp, "off", "Partners changed their minds (drill)")
    finally:
        gp.lock()
    assert manager_verify(practice["folder"]).ok


def test_unsigned_entries_slipped_in_before_a_managers_next_entry_are_reported(practice):
    """Entries appended unsigned in the manager's name are not vouched for by the manager's
    next signature: it names how many entries of its own transaction it covers."""
    from gp_optout_desktop.store.audit import SIGNED_FIELDS, entry_hash

    insider = Insider(practice["folder"], "desk1", PASSWORDS["desk1"])
    seq, prev = insider.conn.execute("SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    pm_serial = insider.conn.execute("SELECT max(serial) FROM user_certs WHERE name = 'pm'").fetchone()[0]
    row = dict.fromkeys(SIGNED_FIELDS, "")
    row.update(seq=seq + 1, at="2026-12-01T00:00:00.000000+00:00", user="pm", role="manager",
               action="user.add", outcome="ok", workstation="pc", detail="name=friend role=manager",
               signer=str(pm_serial), perm="manage_users")
    mac = entry_hash(prev, row)
    insider.sql("INSERT INTO audit(seq, at, user, role, action, patient, outcome, workstation, detail, prev, mac,"
                " signer, perm, rows, sig) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,'')",
                *[row[f] for f in SIGNED_FIELDS[:9]], prev, mac, row["signer"], row["perm"], row["rows"])
    insider.close()
    result = manager_verify(practice["folder"])  # the manager's login entry is signed after it
    assert not result.ok and f"entries {seq + 1} to {seq + 1} are not covered" in result.problem


@pytest.mark.parametrize("role", sorted(ROLE_USERS))
def test_finding_1_an_exclusion_set_forged_with_every_key_a_lower_role_holds_is_refused(practice, role, tmp_path):
    """The issue's script: an empty set at a high revision, signed with the best key the
    insider has (their own audit key: the seed is no longer theirs to read), dropped into the
    export folder. The consuming system, holding the register's real public key, refuses it
    and lets nobody through."""
    from datetime import datetime, timezone

    from gp_optout_desktop.domain.exclusion_rules import EXCLUDE_LISTED
    from gp_optout_desktop.exclusion import consult, signing
    from gp_optout_desktop.exclusion.errors import BadSignatureError
    from gp_optout_desktop.exclusion.writer import write_export

    user = ROLE_USERS[role]
    real_public = signing.private_key_from_bytes(practice["seed"]).public_key()
    insider = Insider(practice["folder"], user, PASSWORDS[user])
    candidates = [signing.private_key_from_bytes(insider.slot.get(certs.AUDIT_SECRET))]
    insider.close()
    for forged_key in candidates:
        write_export(tmp_path / "exclusions", [], private_key=forged_key, practice_ods="F84003",
                     register_revision=10_000, mode=EXCLUDE_LISTED, audit_chain_head="0:genesis",
                     generated_at=datetime.now(timezone.utc))
        src = tmp_path / "candidates.csv"
        src.write_text("nhs_number\n9990000018\n")
        out = tmp_path / "allowed.csv"
        with pytest.raises(BadSignatureError):
            consult.filter_candidates(tmp_path / "exclusions", real_public, src, out, practice_ods="F84003",
                                      state_path=tmp_path / "seen.json")
        assert not out.exists() or out.read_bytes() == b""


@pytest.mark.parametrize("role", sorted(ROLE_USERS))
def test_removing_the_manager_public_key_to_force_a_second_upgrade_is_refused(practice, role):
    """Elevate in the users table, then delete both copies of the manager public key, hoping
    the manager's next unlock 'upgrades' again and certifies the raised role."""
    user = ROLE_USERS[role]
    insider = Insider(practice["folder"], user, PASSWORDS[user])
    insider.sql("UPDATE users SET role = 'manager' WHERE name = ?", user)
    insider.sql("DELETE FROM meta WHERE key = 'manager_pub'")
    insider.close()
    path = practice["folder"] / "register.keys"
    data = json.loads(path.read_text())
    del data["manager_pub"]
    path.write_text(json.dumps(data))
    for who in (user, "pm"):
        with pytest.raises(RecordNotCertified, match="tampered"):
            session_service.unlock(practice["folder"], who, PASSWORDS[who])


def test_a_head_signed_with_no_certified_key_is_reported(practice):
    path = practice["folder"] / "register.keys"
    data = json.loads(path.read_text())
    data["audit_head"]["sig"] = "ab" * 64
    path.write_text(json.dumps(data))
    result = manager_verify(practice["folder"])
    assert not result.ok and "the audit head in the key file is not signed by a certified user" in result.problem


@pytest.mark.parametrize("role", sorted(ROLE_USERS))
def test_a_direct_edit_of_the_state_the_exclusion_file_is_read_from_is_reported(practice, role):
    """current_state is derived from events, but exports read it: switching an objector off
    there would drop them from the next exclusion file."""
    user = ROLE_USERS[role]
    _first, second = practice["patients"]
    insider = Insider(practice["folder"], user, PASSWORDS[user])
    insider.sql("UPDATE current_state SET active = 0 WHERE patient_id = ?", second)
    insider.close()
    result = manager_verify(practice["folder"])
    assert not result.ok and any("current_state table was changed outside the app" in p for p in result.problems)


@pytest.mark.parametrize("key, value", [("manager_pub", 5), ("manager_pub", "zz"), ("pending_audit_keys", [1, 2])])
def test_malformed_key_records_in_the_register_give_a_clear_refusal_not_a_traceback(practice, key, value):
    insider = Insider(practice["folder"], "desk1", PASSWORDS["desk1"])
    insider.sql("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                key, json.dumps(value))
    insider.close()
    if key == "manager_pub":
        with pytest.raises(RecordNotCertified):
            session_service.unlock(practice["folder"], "desk1", PASSWORDS["desk1"])
    else:  # nothing pending for anyone: every user already holds their key
        session_service.unlock(practice["folder"], "desk1", PASSWORDS["desk1"]).lock()


def test_finding_2_through_the_cli_erasure_then_commands_makes_audit_verify_fail(practice, monkeypatch, capsys):
    insider = Insider(practice["folder"], "desk1", PASSWORDS["desk1"])
    top = insider.conn.execute("SELECT max(seq) FROM audit").fetchone()[0]
    insider.sql("DELETE FROM audit WHERE seq > ?", top - 2)
    insider.close()
    monkeypatch.setenv("GP_OPTOUT_REGISTER", str(practice["folder"]))
    monkeypatch.setenv("GP_OPTOUT_PASSWORD", PASSWORDS["desk1"])
    for _ in range(4):
        assert cli.main(["--user", "desk1", "status", "--nhs", "9990000018"]) in (0, 2)
    monkeypatch.setenv("GP_OPTOUT_PASSWORD", PASSWORDS["pm"])
    capsys.readouterr()
    assert cli.main(["--user", "pm", "audit", "verify"]) == 5
    out = capsys.readouterr().out
    # Cut mid-transaction here, so the first report is the entry left without its signature;
    # a cut at a transaction's end is reported as the head that differs (the drills above).
    assert "The audit trail has been altered" in out
    assert f"entry {top} differs" in out or "not covered by their writer's signature" in out


def test_a_gp_changing_the_policy_by_hand_signed_as_themselves_is_their_act(practice):
    """A GP may set the practice-wide policy: done by hand and signed, it is accepted and
    attributed to them; the same edit signed by a receptionist is not (tests above)."""
    insider = Insider(practice["folder"], "drgp", PASSWORDS["drgp"])
    insider.signed_write("UPDATE policy SET reason = 'Partners meeting (minuted)'", perm="practice_optout",
                         action="policy.edit", role=roles.GP)
    insider.close()
    result = manager_verify(practice["folder"])
    assert result.ok, result.problems
    pm = session_service.unlock(practice["folder"], "pm", PASSWORDS["pm"])
    try:
        last = audit.query(pm, action="policy.edit")
        assert [(r.user, r.role) for r in last] == [("drgp", roles.GP)]
    finally:
        pm.lock()


@pytest.mark.parametrize("role", sorted(ROLE_USERS))
def test_marking_an_objector_deceased_by_hand_is_reported(practice, role):
    """A registration status of 'deceased' holds the patient's letters: written directly, or
    signed under a desk permission, it is reported (the practice list import is a manager's)."""
    user = ROLE_USERS[role]
    _first, second = practice["patients"]
    insider = Insider(practice["folder"], user, PASSWORDS[user])
    insider.sql("INSERT INTO registration(patient_id, status, died_on, updated_at, updated_by)"
                " VALUES (?, 'deceased', '2026-01-01', '2026-01-01', ?)", second, user)
    insider.close()
    result = manager_verify(practice["folder"])
    assert not result.ok and any("registration table was changed outside the app" in p for p in result.problems)


def test_a_receptionist_signing_a_registration_change_is_reported_as_beyond_their_role(practice):
    _first, second = practice["patients"]
    insider = Insider(practice["folder"], "desk1", PASSWORDS["desk1"])
    insider.signed_write(f"INSERT INTO registration(patient_id, status, updated_at, updated_by)"
                         f" VALUES ({second}, 'deducted', '2026-01-01', 'desk1')",
                         perm="record_objection", action="patient.registration", role=roles.RECEPTIONIST)
    insider.close()
    result = manager_verify(practice["folder"])
    assert not result.ok and "changed the registration table under 'record_objection'" in result.problem
