"""The audit trail names WHAT was done to it, not merely that something was.

Each case is an insider holding one user's password (their own data key and audit key, not
the manager key), working on the register folder with the app's own code as a library
(tests/store/insider.py). The practice manager's ``audit verify`` must give the specific
reason, so a reviewer can tell a same-length rewrite from a deletion, an insertion or a
reordering; and a head kept outside the register whose signature does not match its
content is reported as forged rather than trusted.
"""

from __future__ import annotations

import json

import pytest

from gp_optout_desktop.store.audit import SIGNED_FIELDS, Head, _sign, entry_hash

from insider import Insider
from test_insider_drills import PASSWORDS, ROLE_USERS, manager_verify, practice  # noqa: F401 - the fixture

ROLES = sorted(ROLE_USERS)


def _rewrite_own_tail(insider: Insider, start: int, change) -> int:
    """Rewrite entries ``start``.. (all the insider's own): ``change(row)`` edits the content,
    then each is re-chained and re-signed with the insider's own key exactly as the app signs
    (same count, same seqs, same transaction shape). Returns the last seq."""
    signer = insider.own_signer()
    prev = insider.conn.execute("SELECT mac FROM audit WHERE seq = ?", (start - 1,)).fetchone()[0]
    rows = insider.conn.execute(f"SELECT {', '.join(SIGNED_FIELDS)}, sig FROM audit WHERE seq >= ? ORDER BY seq",
                                (start,)).fetchall()
    insider.conn.execute("BEGIN IMMEDIATE")
    for values in rows:
        row, old_sig = dict(zip(SIGNED_FIELDS, values[:-1])), values[-1]
        assert row["user"] == insider.user and row["signer"] == str(signer.serial), "only the insider's own entries"
        change(row)
        mac = entry_hash(prev, row)
        sig = _sign(signer.key, mac, int(old_sig.split(":", 1)[0])) if old_sig else ""
        insider.conn.execute("UPDATE audit SET detail = ?, patient = ?, prev = ?, mac = ?, sig = ? WHERE seq = ?",
                             (row["detail"], row["patient"], prev, mac, sig, row["seq"]))
        prev = mac
    insider.conn.execute("COMMIT")
    return rows[-1][0]


def _first_own_entry_of_the_tail(insider: Insider) -> int:
    """Where the insider's own run of entries at the end of the trail begins."""
    seqs = [s for (s,) in insider.conn.execute("SELECT seq FROM audit WHERE user != ? ORDER BY seq DESC LIMIT 1",
                                               (insider.user,))]
    return seqs[0] + 1


def _login_then(folder, user, act):
    insider = Insider(folder, user, PASSWORDS[user])
    try:
        return act(insider)
    finally:
        insider.close()


def _unmark(row):
    row["detail"] = "nothing to see"


@pytest.mark.parametrize("role", ROLES)
def test_a_same_length_rewrite_of_ones_own_latest_entries_is_reported_against_the_head_kept_outside(practice, role):
    """Their own entries, so every signature verifies and every entry names its signer: only
    the head kept in the key file (and the one in the register) can tell."""
    user = ROLE_USERS[role]
    from gp_optout_desktop.services import session as session_service

    session_service.unlock(practice["folder"], user, PASSWORDS[user]).lock()  # the user's own entries at the end
    top = _login_then(practice["folder"], user,
                      lambda i: _rewrite_own_tail(i, _first_own_entry_of_the_tail(i), _unmark))
    result = manager_verify(practice["folder"])
    assert not result.ok
    assert result.problem == f"entry {top} differs from the one recorded earlier."
    assert f"entry {top} differs from the one kept in the register." in result.problems


@pytest.mark.parametrize("role", ROLES)
def test_commands_run_after_a_same_length_rewrite_do_not_move_the_head_onto_it(practice, role):
    """The insider (and a colleague) carry on working: the heads kept outside stay on the
    original entry, so the evidence survives and the reason stays the same."""
    user = ROLE_USERS[role]
    from gp_optout_desktop.services import session as session_service

    session_service.unlock(practice["folder"], user, PASSWORDS[user]).lock()
    top = _login_then(practice["folder"], user,
                      lambda i: _rewrite_own_tail(i, _first_own_entry_of_the_tail(i), _unmark))
    for who in (user, user, "drgp" if user == "desk1" else "desk1"):
        session_service.unlock(practice["folder"], who, PASSWORDS[who]).lock()
    kept = json.loads((practice["folder"] / "register.keys").read_text())["audit_head"]
    assert kept["seq"] == top
    result = manager_verify(practice["folder"])
    assert not result.ok and result.problem == f"entry {top} differs from the one recorded earlier."


@pytest.mark.parametrize("role", ROLES)
def test_the_same_rewrite_with_the_register_head_re_signed_is_still_reported(practice, role):
    """The insider also re-signs the head kept inside the register with their own key: the one
    in the key file (outside the database) still differs."""
    user = ROLE_USERS[role]
    from gp_optout_desktop.services import session as session_service

    session_service.unlock(practice["folder"], user, PASSWORDS[user]).lock()

    def rewrite(insider):
        top = _rewrite_own_tail(insider, _first_own_entry_of_the_tail(insider), _unmark)
        seq, mac = insider.conn.execute("SELECT seq, mac FROM audit WHERE seq = ?", (top,)).fetchone()
        signer = insider.own_signer()
        head = Head(seq, mac)
        signed = Head(seq, mac, str(signer.serial), signer.key.sign(head.signed_bytes(insider.keys.register_id)).hex())
        insider.sql("UPDATE meta SET value = ? WHERE key = 'audit_head'", json.dumps(signed.as_dict()))
        return top

    top = _login_then(practice["folder"], user, rewrite)
    result = manager_verify(practice["folder"])
    assert not result.ok and result.problem == f"entry {top} differs from the one recorded earlier."
    assert not any("kept in the register" in p for p in result.problems), "that one was re-signed consistently"


@pytest.mark.parametrize("role", ROLES)
def test_one_of_ones_own_entries_rewritten_in_the_middle_is_reported_where_the_chain_breaks(practice, role):
    """Re-signed in place without re-chaining what others wrote after it: the next entry no
    longer follows it."""
    user = ROLE_USERS[role]
    _pm_session_end(practice)  # someone else's entries after the insider's own

    def rewrite(insider):
        seq = insider.conn.execute("SELECT max(seq) FROM audit WHERE user = ? AND sig != ''"
                                   " AND seq < (SELECT max(seq) FROM audit WHERE user != ?)",
                                   (user, user)).fetchone()[0]
        signer = insider.own_signer()
        prev, old_sig = insider.conn.execute("SELECT prev, sig FROM audit WHERE seq = ?", (seq,)).fetchone()
        row = dict(zip(SIGNED_FIELDS, insider.conn.execute(
            f"SELECT {', '.join(SIGNED_FIELDS)} FROM audit WHERE seq = ?", (seq,)).fetchone()))
        assert row["user"] == user
        _unmark(row)
        mac = entry_hash(prev, row)
        insider.sql("UPDATE audit SET detail = ?, mac = ?, sig = ? WHERE seq = ?", row["detail"], mac,
                    _sign(signer.key, mac, int(old_sig.split(":", 1)[0])), seq)
        return seq

    seq = _login_then(practice["folder"], user, rewrite)
    result = manager_verify(practice["folder"])
    assert not result.ok and result.problem == f"entry {seq + 1} does not follow the entry before it."


@pytest.mark.parametrize("role", ROLES)
def test_an_entry_inserted_in_the_middle_is_reported_as_the_break_it_makes(practice, role):
    """A properly signed entry of the insider's own, chained to the one before it, slipped in
    (later entries moved up by one): the entry after it no longer follows."""
    user = ROLE_USERS[role]

    def insert(insider):
        signer = insider.own_signer()
        at = insider.conn.execute("SELECT min(seq) FROM audit WHERE action = 'exclusion.export'").fetchone()[0]
        prev = insider.conn.execute("SELECT mac FROM audit WHERE seq = ?", (at - 1,)).fetchone()[0]
        row = dict.fromkeys(SIGNED_FIELDS, "")
        row.update(seq=at, at="2026-01-01T09:00:00.000000+00:00", user=user, role=role, action="patient.read",
                   outcome="ok", workstation="pc", signer=str(signer.serial), perm="view_patient")
        mac = entry_hash(prev, row)
        insider.conn.execute("BEGIN IMMEDIATE")
        insider.conn.execute("UPDATE audit SET seq = -seq WHERE seq >= ?", (at,))
        insider.conn.execute("UPDATE audit SET seq = 1 - seq WHERE seq < 0")
        insider.conn.execute(
            "INSERT INTO audit(seq, at, user, role, action, patient, outcome, workstation, detail, prev, mac, signer,"
            " perm, rows, sig) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (*[row[f] for f in SIGNED_FIELDS[:9]], prev, mac, row["signer"], row["perm"], row["rows"],
             _sign(signer.key, mac, 0)))
        insider.conn.execute("COMMIT")
        return at

    at = _login_then(practice["folder"], user, insert)
    result = manager_verify(practice["folder"])
    assert not result.ok and result.problem == f"entry {at + 1} does not follow the entry before it."


@pytest.mark.parametrize("role", ROLES)
def test_a_copied_entry_inserted_is_reported_as_not_following(practice, role):
    """A copy of an existing, validly signed entry put in after it (later ones moved up)."""
    user = ROLE_USERS[role]

    def insert(insider):
        insider.conn.execute("BEGIN IMMEDIATE")
        insider.conn.execute("UPDATE audit SET seq = -seq WHERE seq >= 3")
        insider.conn.execute("UPDATE audit SET seq = 1 - seq WHERE seq < 0")
        insider.conn.execute("INSERT INTO audit SELECT 3, at, user, role, action, patient, outcome, workstation,"
                             " detail, prev, mac, signer, perm, rows, sig FROM audit WHERE seq = 2")
        insider.conn.execute("COMMIT")

    _login_then(practice["folder"], user, insert)
    result = manager_verify(practice["folder"])
    assert not result.ok and result.problem == "entry 3 does not follow the entry before it."


@pytest.mark.parametrize("role", ROLES)
def test_two_entries_swapped_are_reported_as_not_following(practice, role):
    user = ROLE_USERS[role]

    def swap(insider):
        a = insider.conn.execute("SELECT min(seq) FROM audit WHERE action = 'exclusion.export'").fetchone()[0]
        insider.conn.execute("BEGIN IMMEDIATE")
        insider.conn.execute("UPDATE audit SET seq = -1 WHERE seq = ?", (a,))
        insider.conn.execute("UPDATE audit SET seq = ? WHERE seq = ?", (a, a + 1))
        insider.conn.execute("UPDATE audit SET seq = ? WHERE seq = -1", (a + 1,))
        insider.conn.execute("COMMIT")
        return a

    a = _login_then(practice["folder"], user, swap)
    result = manager_verify(practice["folder"])
    assert not result.ok and result.problem == f"entry {a} does not follow the entry before it."


# ---- the heads kept outside the register: their signatures are checked --------------------

def _edit_key_file(folder, change):
    path = folder / "register.keys"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _pm_session_end(practice):
    """A practice manager's session last, so the key file holds a head the manager signed."""
    from gp_optout_desktop.services import session as session_service

    session_service.unlock(practice["folder"], "pm", PASSWORDS["pm"]).lock()
    data = json.loads((practice["folder"] / "register.keys").read_text())
    assert data["manager_head"]["seq"] == data["audit_head"]["seq"]
    return data


def test_a_manager_head_whose_signature_does_not_match_its_content_is_reported_as_forged(practice):
    """Moved back onto an earlier entry (what a truncation would want), keeping the signature."""
    data = _pm_session_end(practice)
    earlier = data["manager_head"]["seq"] - 3

    def move_back(keys):
        keys["manager_head"]["seq"] = earlier

    _edit_key_file(practice["folder"], move_back)
    result = manager_verify(practice["folder"])
    assert not result.ok and result.problem == "the manager's head in the key file is forged."


def test_a_manager_head_with_another_mac_is_reported_as_forged(practice):
    _pm_session_end(practice)

    def other_mac(keys):
        keys["manager_head"]["mac"] = "0" * 64

    _edit_key_file(practice["folder"], other_mac)
    result = manager_verify(practice["folder"])
    assert not result.ok and result.problem == "the manager's head in the key file is forged."


def test_a_writer_head_in_the_key_file_with_another_mac_is_reported_as_forged(practice):
    _pm_session_end(practice)

    def other_mac(keys):
        keys["audit_head"]["mac"] = "1" * 64

    _edit_key_file(practice["folder"], other_mac)
    result = manager_verify(practice["folder"])
    assert not result.ok
    assert result.problem == "the audit head in the key file is not signed by a certified user (forged)."


@pytest.mark.parametrize("role", ROLES)
def test_a_writer_head_in_the_register_with_another_mac_is_reported_as_forged(practice, role):
    user = ROLE_USERS[role]

    def other_mac(insider):
        head = json.loads(insider.conn.execute("SELECT value FROM meta WHERE key = 'audit_head'").fetchone()[0])
        head["mac"] = "2" * 64
        insider.sql("UPDATE meta SET value = ? WHERE key = 'audit_head'", json.dumps(head))

    _login_then(practice["folder"], user, other_mac)
    result = manager_verify(practice["folder"])
    assert not result.ok
    assert "the audit head kept in the register is not signed by a certified user (forged)." in result.problems
