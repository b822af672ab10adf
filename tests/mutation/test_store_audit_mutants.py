"""The audit trail's formats and words as a practice relies on them: an entry's hash, its
writer's signature and the signed head follow the documented byte layout (so heads kept in
key files and backups by this release verify in the next), the old HMAC-chained entries of
a register from before schema 4 still verify, every refusal names the entry and the reason,
and the trail screen's filters find exactly what they name. Written to close survivors of
scripts/run-mutation over store/audit.py (docs/mutation-testing.md, "store modules"); the
rewrite and reorder cases are tests/store/test_audit_rewrite_reasons.py."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import sqlite3
from datetime import datetime, timezone

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gp_optout_desktop.store import audit as A

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
ROW = {"seq": 1, "at": "2026-03-02T12:00:00.000000+00:00", "user": "pm", "role": "manager",
       "action": "patient.create", "patient": "999 000 0018", "outcome": "ok", "workstation": "desk-1",
       "detail": "via=form é", "signer": "1", "perm": "add_patient", "rows": '{"patients":"ff"}'}
OLD_FIELDS = ["seq", "at", "user", "role", "action", "patient", "outcome", "workstation", "detail"]


def test_an_entry_hash_is_sha256_of_prev_and_the_signed_fields_as_compact_json():
    body = json.dumps([ROW[f] for f in OLD_FIELDS + ["signer", "perm", "rows"]], ensure_ascii=False,
                      separators=(",", ":"))
    assert A.entry_hash(A.GENESIS, ROW) == hashlib.sha256((("0" * 64) + body).encode("utf-8")).hexdigest()
    assert A.entry_hash("ab" * 32, ROW) != A.entry_hash(A.GENESIS, ROW)


def test_an_old_entry_mac_is_hmac_sha256_of_prev_and_the_first_nine_fields():
    body = json.dumps([ROW[f] for f in OLD_FIELDS], ensure_ascii=False, separators=(",", ":"))
    expected = hmac.new(b"k" * 32, (A.GENESIS + body).encode("utf-8"), hashlib.sha256).hexdigest()
    assert A._mac(b"k" * 32, A.GENESIS, ROW) == expected


def test_a_signature_covers_the_hash_and_the_count_of_entries_before_it():
    mac = A.entry_hash(A.GENESIS, ROW)
    sig = A._sign(KEY, mac, 2)
    count, hexsig = sig.split(":")
    assert count == "2"
    KEY.public_key().verify(bytes.fromhex(hexsig), bytes.fromhex(mac) + (2).to_bytes(4, "big"))
    assert A._check_signature(KEY.public_key(), mac, sig) == 2
    assert A._check_signature(KEY.public_key(), mac, A._sign(KEY, mac, 0)) == 0


@pytest.mark.parametrize("spoil", [
    lambda s: s.replace("2:", "3:", 1),          # claims more entries than were signed
    lambda s: s.split(":", 1)[1],                 # no count
    lambda s: "-1:" + s.split(":", 1)[1],         # a negative count
    lambda s: f"{2**31}:" + s.split(":", 1)[1],   # a count out of range
    lambda s: "2:" + "zz" * 64,                   # not hex
    lambda s: "two:" + s.split(":", 1)[1],        # not a number
])
def test_a_signature_that_does_not_verify_counts_nothing(spoil):
    mac = A.entry_hash(A.GENESIS, ROW)
    assert A._check_signature(KEY.public_key(), mac, spoil(A._sign(KEY, mac, 2))) is None
    other = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
    assert A._check_signature(other.public_key(), mac, A._sign(KEY, mac, 2)) is None


def test_a_head_signs_the_register_id_its_seq_and_its_hash():
    head = A.Head(7, "ab" * 32)
    assert head.signed_bytes("rid-1") == f"gp-optout audit head|rid-1|7|{'ab' * 32}".encode("utf-8")
    sig = KEY.sign(head.signed_bytes("rid-1"))
    KEY.public_key().verify(sig, b"gp-optout audit head|rid-1|7|" + ("ab" * 32).encode())
    with pytest.raises(InvalidSignature):
        KEY.public_key().verify(sig, A.Head(7, "ab" * 32).signed_bytes("rid-2"))


def test_a_head_is_kept_as_a_small_dict_and_read_back():
    plain, signed = A.Head(3, "cd" * 32), A.Head(4, "ef" * 32, "2", "aa" * 64)
    assert plain.as_dict() == {"seq": 3, "mac": "cd" * 32}
    assert signed.as_dict() == {"seq": 4, "mac": "ef" * 32, "serial": "2", "sig": "aa" * 64}
    assert A.Head.from_dict(plain.as_dict()) == plain and A.Head.from_dict(signed.as_dict()) == signed
    assert A.Head.from_dict({"seq": "5", "mac": 12}) == A.Head(5, "12")
    assert A.Head.from_dict(None) is None and A.Head.from_dict({}) is None


def test_the_verdict_is_said_in_words():
    assert A.Verification(True, 12, None).describe() == (
        "The audit trail is intact: 12 entries, each linked to the one before and signed.")
    one = A.Verification(False, 3, None, "entry 2 was changed after it was written.", ("x",))
    assert one.describe() == "The audit trail has been altered: entry 2 was changed after it was written."
    two = A.Verification(False, 3, None, "entry 2 was changed.", ("a", "b"))
    assert two.describe() == "The audit trail has been altered: entry 2 was changed. (and 1 more problem(s))"
    three = A.Verification(False, 3, None, "entry 2 was changed.", ("a", "b", "c"))
    assert three.describe() == "The audit trail has been altered: entry 2 was changed. (and 2 more problem(s))"


@pytest.fixture
def old_db():
    """An audit table as a register from before schema 4 has it (HMAC chain, no signatures)."""
    conn = sqlite3.connect(":memory:")
    conn.executescript(
        "CREATE TABLE audit(seq INTEGER PRIMARY KEY, at TEXT NOT NULL, user TEXT NOT NULL, role TEXT NOT NULL,"
        " action TEXT NOT NULL, patient TEXT NOT NULL, outcome TEXT NOT NULL, workstation TEXT NOT NULL,"
        " detail TEXT NOT NULL, prev TEXT NOT NULL, mac TEXT NOT NULL);")
    for column in ("signer", "perm", "rows", "sig"):
        conn.execute(f"ALTER TABLE audit ADD COLUMN {column} TEXT NOT NULL DEFAULT ''")
    yield conn
    conn.close()


def test_an_hmac_chained_trail_appends_verifies_and_names_a_changed_entry(old_db):
    chain = A.AuditChain(b"k" * 32)
    assert chain.head(old_db) is None
    first = chain.append(old_db, user="pm", role="manager", action="login",
                         at=datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
    assert first.seq == 1
    head = chain.append(old_db, user="pm", role="manager", action="patient.read", patient="999 000 0018",
                        detail="d", outcome="ok")
    assert head == chain.head(old_db) and head.seq == 2
    rows = old_db.execute("SELECT seq, at, workstation, prev, mac, signer, sig FROM audit ORDER BY seq").fetchall()
    assert rows[0][1] == "2026-03-02T09:00:00.000000+00:00" and rows[0][2] == socket.gethostname()[:64]
    assert rows[0][3] == A.GENESIS and rows[1][3] == rows[0][4] and rows[1][4] == head.mac
    assert rows[0][5] == rows[0][6] == ""  # no signer, no signature: the old format
    assert chain.signed_head(old_db) == head  # nothing to sign it with
    result = chain.verify(old_db, head, certs={})
    assert result.ok and result.rows == 2 and result.head == head
    assert A.AuditChain(b"j" * 32).verify(old_db, certs={}).problem == "entry 1 was changed after it was written."
    assert A.AuditChain(None).verify(old_db, certs={}).problem == "entry 1 was changed after it was written."
    old_db.execute("UPDATE audit SET detail = 'edited' WHERE seq = 2")
    assert chain.verify(old_db, certs={}).problem == "entry 2 was changed after it was written."


def test_a_missing_entry_and_a_cut_off_end_are_named(old_db):
    chain = A.AuditChain(b"k" * 32)
    for i in range(4):
        head = chain.append(old_db, user="pm", role="manager", action=f"step.{i}")
    old_db.execute("DELETE FROM audit WHERE seq = 4")
    result = chain.verify(old_db, head, certs={})
    assert result.problems == ("entries after 3 are missing (the trail reached 4 before, recorded earlier).",)
    assert result.rows == 3 and result.head.seq == 3
    old_db.execute("DELETE FROM audit WHERE seq = 2")
    assert chain.verify(old_db, certs={}).problem == "entry 2 is missing (found 3 next)."


def test_a_head_kept_elsewhere_that_the_trail_does_not_hold_is_named(old_db):
    chain = A.AuditChain(b"k" * 32)
    for i in range(3):
        chain.append(old_db, user="pm", role="manager", action=f"step.{i}")
    elsewhere = A.Head(2, "0" * 64)
    result = chain.verify(old_db, None, certs={}, extra_heads=(("kept in the register", elsewhere),))
    assert result.problems == ("entry 2 differs from the one kept in the register.",)
    assert chain.verify(old_db, None, certs={}, sealed_required=True).problems == (
        "the trail has no entry signed since the upgrade: it was rewritten with the old key.",)


def _audit_rows(manager, **filters):
    from gp_optout_desktop.store.audit import select

    with manager.register.reading() as conn:
        return select(conn, **filters)


def test_the_trail_filters_find_exactly_what_they_name(manager, add_patient):
    add_patient(manager, nhs="9990000018")
    add_patient(manager, nhs="9990000026")
    with manager.write("settings") as ctx:
        ctx.audit("odd_name%.x")
        ctx.audit("oddXname.y")
    everything = _audit_rows(manager)
    assert [r[0] for r in everything] == sorted((r[0] for r in everything), reverse=True)  # newest first
    assert len(_audit_rows(manager, limit=2)) == 2
    assert [r[4] for r in _audit_rows(manager, action_prefix="odd_name%")] == ["odd_name%.x"]  # % and _ literal
    assert [r[4] for r in _audit_rows(manager, action_prefix="odd")] == ["oddXname.y", "odd_name%.x"]
    assert {r[5] for r in _audit_rows(manager, patient="9990000018")} == {"9990000018"}
    assert _audit_rows(manager, user="nobody") == [] and {r[2] for r in _audit_rows(manager, user="pm")} == {"pm"}
    stamps = sorted(r[1] for r in everything)
    middle = stamps[len(stamps) // 2]
    assert all(r[1] >= middle for r in _audit_rows(manager, since=middle))
    assert all(r[1] <= middle for r in _audit_rows(manager, until=middle))
    assert len(_audit_rows(manager, since=middle)) + len(_audit_rows(manager, until=middle)) == len(everything) + 1
    assert _audit_rows(manager, action_prefix="", user="", patient="") == everything  # empty filters filter nothing


def test_one_transaction_is_signed_once_by_its_last_entry(manager):
    with manager.write("settings") as ctx:
        for i in range(3):
            ctx.audit(f"settings.step{i}")
    with manager.register.reading() as conn:
        rows = conn.execute("SELECT seq, signer, perm, sig, at FROM audit WHERE action LIKE 'settings.step%' "
                            "ORDER BY seq").fetchall()
    assert [r[3] == "" for r in rows] == [True, True, False] and rows[2][3].startswith("2:")
    assert {r[1] for r in rows} == {rows[2][1]} and rows[2][1] and {r[2] for r in rows} == {"settings"}
    assert [r[0] for r in rows] == list(range(rows[0][0], rows[0][0] + 3))
    assert all(len(r[4].split(".")[-1].split("+")[0]) == 6 for r in rows)  # microseconds kept
    from gp_optout_desktop.services import audit

    assert audit.verify(manager).ok


def test_a_bulk_import_signature_covers_many_entries_and_a_count_past_the_format_is_refused():
    mac = A.entry_hash(A.GENESIS, ROW)
    # One transaction of a 100,000-row import is signed once by its last entry.
    assert A._check_signature(KEY.public_key(), mac, A._sign(KEY, mac, 99_999)) == 99_999
    # A count that fits the four signed bytes but is past the format's limit is refused even
    # when the writer's key really signed it.
    too_many = 2**31
    forged = f"{too_many}:" + KEY.sign(bytes.fromhex(mac) + too_many.to_bytes(4, "big")).hex()
    assert A._check_signature(KEY.public_key(), mac, forged) is None
    top = 2**31 - 1
    assert A._check_signature(KEY.public_key(), mac, f"{top}:" + KEY.sign(bytes.fromhex(mac) + top.to_bytes(
        4, "big")).hex()) == top


def test_a_copy_from_before_the_upgrade_is_not_required_to_be_signed(old_db):
    """A backup copy is checked without certificates handed in: with no manager key in its
    meta (a register never upgraded), its HMAC trail is whole, not 'rewritten with the old key'."""
    old_db.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    chain = A.AuditChain(b"k" * 32)
    head = chain.append(old_db, user="pm", role="manager", action="login")
    result = chain.verify(old_db, head)
    assert result.ok and result.problems == () and result.rows == 1


def test_the_trail_filter_takes_a_backslash_literally_and_shows_at_most_5000_rows(old_db):
    chain = A.AuditChain(b"k" * 32)
    chain.append(old_db, user="pm", role="manager", action="back\\slash.x")
    chain.append(old_db, user="pm", role="manager", action="backXslash.y")
    assert [r[4] for r in A.select(old_db, action_prefix="back\\slash")] == ["back\\slash.x"]
    chain.append(old_db, user="pm", role="manager", action="pct%.a")
    chain.append(old_db, user="pm", role="manager", action="pctX.b")
    assert [r[4] for r in A.select(old_db, action_prefix="pct%")] == ["pct%.a"]
    chain.append(old_db, user="pm", role="manager", action="und_a.x")
    chain.append(old_db, user="gp1", role="gp", action="undXa.y")
    assert [r[4] for r in A.select(old_db, action_prefix="und_a")] == ["und_a.x"]
    assert [r[4] for r in A.select(old_db, action_prefix="und", user="gp1")] == ["undXa.y"]  # both filters at once
    old_db.executemany("INSERT INTO audit(seq, at, user, role, action, patient, outcome, workstation, detail, prev, mac)"
                       " VALUES (?, '2026-03-02', 'pm', 'manager', 'bulk', '', 'ok', 'w', '', '', '')",
                       [(seq,) for seq in range(7, 5007)])
    shown = A.select(old_db)
    assert len(shown) == 5000 and shown[0][0] == 5006  # the newest 5,000 of 5,006


def test_a_backup_whose_whole_trail_was_rewritten_with_the_old_key_is_refused(manager, add_patient, tmp_path):
    """An insider holding the data key rewrites a backup copy's WHOLE trail as the old,
    pre-upgrade HMAC chain (under a key they put in the copy's meta), and its manifest head to
    match: every entry then checks, so only the rule that an upgraded register's trail must
    carry signed entries can refuse it. The copy names the manager key, so the rule applies."""
    import zipfile

    from gp_optout_desktop.services import backup
    from gp_optout_desktop.store import backup as store_backup, database
    from gp_optout_desktop.store.errors import RegisterCorrupt

    add_patient(manager, surname="Alpha")
    good = tmp_path / "good.gpob"
    backup.backup(manager, good)
    data_key = manager.register.data_key
    manager.lock()
    assert store_backup.verify_file(good, data_key)["counts"]["patients"] == 1  # the original is fine

    with zipfile.ZipFile(good) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    db = tmp_path / "work" / database.DB_NAME
    db.parent.mkdir()
    db.write_bytes(members[database.DB_NAME])
    old_key = b"i" * 32
    conn = database.connect(db, data_key)
    try:
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('audit_key', ?)", (json.dumps(old_key.hex()),))
        prev = A.GENESIS
        cols = ", ".join(OLD_FIELDS)
        for values in conn.execute(f"SELECT {cols} FROM audit ORDER BY seq").fetchall():
            row = dict(zip(OLD_FIELDS, values))
            mac = A._mac(old_key, prev, row)
            conn.execute("UPDATE audit SET prev = ?, mac = ?, signer = '', perm = '', rows = '', sig = '' "
                         "WHERE seq = ?", (prev, mac, row["seq"]))
            prev, last = mac, row["seq"]
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode = DELETE")
    finally:
        conn.close()
    content = db.read_bytes()
    manifest = json.loads(members["manifest.json"])
    manifest.update(db_sha256=hashlib.sha256(content).hexdigest(), audit_head={"seq": last, "mac": prev})
    members.update({"manifest.json": json.dumps(manifest).encode(), database.DB_NAME: content})
    forged = tmp_path / "forged.gpob"
    with zipfile.ZipFile(forged, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)

    with pytest.raises(RegisterCorrupt) as refused:
        store_backup.verify_file(forged, data_key)
    assert str(refused.value) == ("The backup's audit trail does not verify: the trail has no entry signed since "
                                  "the upgrade: it was rewritten with the old key.")


# Whose key signed an entry: a colleague's failed attempt is recorded by the next person to
# unlock, but no one may sign in another's name, nor with a key that is no longer theirs.
DESK_PASSWORD = "desk1-password-1"


def _keys_of(register_dir, user, password):
    """What an insider keeps from their own key slot: the data key and their audit signer."""
    from gp_optout_desktop.store import certs, keyfile

    keys = keyfile.KeyFile.load(register_dir / "register.keys")
    slot = keys.try_open(user, password)
    seed = slot.get(certs.AUDIT_SECRET)
    return keys.register_id, slot.data_key, certs.audit_private(seed)


def _sign_as(register_dir, kept, *, user, signer_name, action, outcome="ok", rows=None, perm="login"):
    """Append one entry written by hand, signed with the kept audit key (its latest certificate)."""
    from gp_optout_desktop.store import certs, database

    register_id, data_key, key = kept
    conn = database.connect(register_dir / "register.db", data_key)
    try:
        pub = certs.raw_public(key).hex()
        serial = conn.execute("SELECT max(serial) FROM user_certs WHERE name = ? AND body LIKE ?",
                              (signer_name, f'%"audit_pub":"{pub}"%')).fetchone()[0]
        conn.execute("BEGIN IMMEDIATE")
        head = A.AuditChain(None, A.Signer(serial, key), register_id).append_batch(
            conn, [A.Pending(user, "receptionist", action, outcome=outcome)], perm=perm, rows=rows)
        conn.execute("COMMIT")
        return head.seq
    finally:
        conn.close()


def _verify_as_pm(register_dir):
    from gp_optout_desktop.services import audit, session as session_service

    pm = session_service.unlock(register_dir, "pm", "pm-password-1")
    try:
        return audit.verify(pm)
    finally:
        pm.lock()


@pytest.fixture
def with_desk(manager, register_dir):
    from gp_optout_desktop.domain import roles
    from gp_optout_desktop.services import users

    users.add(manager, "desk1", roles.RECEPTIONIST, DESK_PASSWORD)
    return manager


def test_a_colleagues_failed_unlock_is_recorded_by_the_next_user_and_the_trail_still_verifies(with_desk, register_dir):
    from gp_optout_desktop.services import session as session_service
    from gp_optout_desktop.store.errors import WrongPassword

    with_desk.lock()
    with pytest.raises(WrongPassword):
        session_service.unlock(register_dir, "desk1", "not-the-password")
    result = _verify_as_pm(register_dir)
    assert result.ok, result.problems
    pm = session_service.unlock(register_dir, "pm", "pm-password-1")
    try:
        with pm.register.reading() as conn:
            failed = [r for r in A.select(conn) if r[2] == "desk1" and r[4] == "login"]
    finally:
        pm.lock()
    assert [r[6] for r in failed] == ["failed"]  # named for desk1, signed by pm, accepted


@pytest.mark.parametrize("action, outcome", [("login", "ok"), ("patient.read", "failed")])
def test_an_entry_naming_someone_else_is_refused_unless_it_is_their_failed_login(with_desk, register_dir, action,
                                                                                  outcome):
    with_desk.lock()
    kept = _keys_of(register_dir, "desk1", DESK_PASSWORD)
    seq = _sign_as(register_dir, kept, user="pm", signer_name="desk1", action=action, outcome=outcome)
    result = _verify_as_pm(register_dir)
    assert not result.ok and result.problem == f"entry {seq} names pm but was signed by desk1."


@pytest.mark.parametrize("change", ["remove", "reset_password"])
def test_a_key_kept_after_removal_or_a_password_reset_cannot_sign(with_desk, register_dir, change):
    """Removal keeps the audit key in the certificate but marks it inactive; a reset certifies
    a new key. Either way the key the insider kept is no longer theirs to sign with."""
    from gp_optout_desktop.services import users

    kept = _keys_of(register_dir, "desk1", DESK_PASSWORD)
    getattr(users, change)(with_desk, "desk1")
    with_desk.lock()
    seq = _sign_as(register_dir, kept, user="desk1", signer_name="desk1", action="login")
    result = _verify_as_pm(register_dir)
    assert not result.ok and result.problem == f"entry {seq} is signed with a key desk1 did not hold at that point."


def test_an_entry_claiming_a_change_to_a_table_no_permission_names_is_refused(with_desk, register_dir):
    """A table the app does not attest is in no permission's list: no one may record changing it."""
    with_desk.lock()
    kept = _keys_of(register_dir, "desk1", DESK_PASSWORD)
    seq = _sign_as(register_dir, kept, user="desk1", signer_name="desk1", action="login", rows={"mystery": "ff"})
    result = _verify_as_pm(register_dir)
    assert not result.ok
    assert result.problem == f"entry {seq} changed the mystery table under 'login', which may not change it."


def test_a_table_the_register_was_signed_without_counts_from_empty_when_rows_arrive(register_dir, add_patient,
                                                                                    monkeypatch):
    """A register created and signed by a version before the practice-wide codes existed (its
    baseline names no practice_codes table) keeps verifying after the upgrade, once a GP turns
    the practice-wide opt-out on and the codes are listed: the new table's changes add up from
    empty, so an honest register is never reported as altered."""
    from datetime import date

    from gp_optout_desktop.domain import roles
    from gp_optout_desktop.services import exclusion, session as session_service, setup, users
    from gp_optout_desktop.store import attest

    before_v5 = tuple(t for t in attest.TABLES if t not in ("practice_codes", "reconciliations"))
    with monkeypatch.context() as older:
        older.setattr(attest, "TABLES", before_v5)
        practice = setup.practice_details(name="Test Surgery", address=["1 Test Road", "Testtown"],
                                          phone="01632 960001", email="surgery@example.invalid")
        pm, _recovery = setup.create_register(register_dir, ods="F84003", practice=practice, user="pm",
                                              password="pm-password-1")
        with pm.register.reading() as conn:
            baseline = [json.loads(r[0]) for r in conn.execute("SELECT rows FROM audit WHERE perm = 'create'")]
        assert "practice_codes" not in baseline[0]
        for surname in ("Alpha", "Beta"):
            add_patient(pm, surname=surname)
        users.add(pm, "drgp", roles.GP, "gp-password-1")
        pm.lock()
    gp = session_service.unlock(register_dir, "drgp", "gp-password-1")
    try:
        change = exclusion.set_practice_optout(gp, "on", "Partners' decision", effective=date(2026, 11, 2))
        assert change.data["coding_listed"] == 2
    finally:
        gp.lock()
    result = _verify_as_pm(register_dir)
    assert result.ok, result.problems


def test_an_insiders_adoption_entry_is_refused_in_words(with_desk, register_dir):
    """The one-off 'adopt' entry (an older register signing a newly attested table as it
    stands) is the app's own: one an insider signs is refused, whether it re-adopts a table
    the trail attests (to hide a change) or carries no digests at all."""
    with_desk.lock()
    kept = _keys_of(register_dir, "desk1", DESK_PASSWORD)
    seq = _sign_as(register_dir, kept, user="desk1", signer_name="desk1", action="register.attest", perm="adopt",
                   rows={"letters": "ff"})
    result = _verify_as_pm(register_dir)
    assert not result.ok
    assert result.problem == (f"entry {seq} adopts the letters table, which the trail already attests: it was "
                              "written outside the app.")


def test_an_adoption_entry_with_no_digests_is_refused(with_desk, register_dir):
    with_desk.lock()
    kept = _keys_of(register_dir, "desk1", DESK_PASSWORD)
    seq = _sign_as(register_dir, kept, user="desk1", signer_name="desk1", action="register.attest", perm="adopt")
    result = _verify_as_pm(register_dir)
    assert not result.ok and result.problem == f"entry {seq} (adopt) carries no baseline."


def _tamper(register_dir, kept, entries, then):
    """As an insider with their own data key and audit key: append ``entries`` (a batch
    signed only on its last entry, as the app does), then ``then(conn, first_seq, chain)``."""
    from gp_optout_desktop.store import certs, database

    register_id, data_key, key = kept
    conn = database.connect(register_dir / "register.db", data_key)
    try:
        pub = certs.raw_public(key).hex()
        serial = conn.execute("SELECT max(serial) FROM user_certs WHERE body LIKE ?",
                              (f'%"audit_pub":"{pub}"%',)).fetchone()[0]
        chain = A.AuditChain(None, A.Signer(serial, key), register_id)
        conn.execute("BEGIN IMMEDIATE")
        first = chain.head(conn).seq + 1
        chain.append_batch(conn, [A.Pending("desk1", "receptionist", "login") for _ in range(entries)], perm="login")
        then(conn, first, chain)
        conn.execute("COMMIT")
        return first
    finally:
        conn.close()


def test_an_entry_whose_signature_was_replaced_is_named(with_desk, register_dir):
    with_desk.lock()
    kept = _keys_of(register_dir, "desk1", DESK_PASSWORD)
    seq = _tamper(register_dir, kept, 1, lambda conn, first, _chain: conn.execute(
        "UPDATE audit SET sig = ? WHERE seq = ?", ("0:" + "ab" * 64, first)))
    result = _verify_as_pm(register_dir)
    assert not result.ok and result.problem == f"entry {seq}'s signature does not verify: it was forged or altered."


def test_a_signature_claiming_entries_that_are_not_there_is_named(with_desk, register_dir):
    """A writer's signature says how many unsigned entries of its transaction it covers; one
    claiming two that do not exist is refused."""
    def claim_two(conn, first, chain):
        mac = conn.execute("SELECT mac FROM audit WHERE seq = ?", (first,)).fetchone()[0]
        conn.execute("UPDATE audit SET sig = ? WHERE seq = ?", (A._sign(chain.signer.key, mac, 2), first))

    with_desk.lock()
    seq = _tamper(register_dir, _keys_of(register_dir, "desk1", DESK_PASSWORD), 1, claim_two)
    result = _verify_as_pm(register_dir)
    assert not result.ok and result.problem == f"entry {seq}'s signature claims entries before it that are not there."


def test_unsigned_entries_before_a_signature_that_does_not_cover_them_are_named(with_desk, register_dir):
    """Two entries slipped in unsigned before one whose signature covers none of them."""
    def uncover(conn, first, chain):
        mac = conn.execute("SELECT mac FROM audit WHERE seq = ?", (first + 2,)).fetchone()[0]
        conn.execute("UPDATE audit SET sig = ? WHERE seq = ?", (A._sign(chain.signer.key, mac, 0), first + 2))

    with_desk.lock()
    first = _tamper(register_dir, _keys_of(register_dir, "desk1", DESK_PASSWORD), 3, uncover)
    result = _verify_as_pm(register_dir)
    assert not result.ok
    assert result.problem == (f"entries {first} to {first + 1} are not covered by their writer's signature "
                              "(inserted outside the app).")


def test_unsigned_entries_at_the_end_of_the_trail_are_named(with_desk, register_dir):
    """A transaction's signed last entry cut off leaves its other entries unsigned at the end."""
    from gp_optout_desktop.store import database

    with_desk.lock()
    kept = _keys_of(register_dir, "desk1", DESK_PASSWORD)
    first = _tamper(register_dir, kept, 2,
                    lambda conn, first, _chain: conn.execute("DELETE FROM audit WHERE seq = ?", (first + 1,)))
    conn = database.connect(register_dir / "register.db", kept[1])   # as found: nobody unlocked since
    try:
        result = A.AuditChain(A.load_key(conn), register_id=kept[0]).verify(conn)
    finally:
        conn.close()
    assert not result.ok and result.problem == f"entries from {first} on are not covered by a signature."


def _change_by_hand(register_dir, kept, *statements):
    """An insider's direct SQL on the register file, with its key, outside the app."""
    from gp_optout_desktop.store import database

    conn = database.connect(register_dir / "register.db", kept[1])
    try:
        for sql in statements:
            conn.execute(sql)
        conn.commit()
    finally:
        conn.close()


def _verify_as_found(register_dir, kept, expected_head=None):
    """What audit verify says about the register as it is on disk, before anyone unlocks it
    again (an unlock would add its own signed entry)."""
    from gp_optout_desktop.store import database

    conn = database.connect(register_dir / "register.db", kept[1])
    try:
        return A.AuditChain(A.load_key(conn), register_id=kept[0]).verify(conn, expected_head)
    finally:
        conn.close()


def test_an_entry_changed_in_place_is_the_one_problem_reported(with_desk, register_dir):
    """A broken chain is the report: the table comparisons after it would only repeat it in
    other words (the screen says "and N more problem(s)")."""
    with_desk.lock()
    kept = _keys_of(register_dir, "desk1", DESK_PASSWORD)
    _change_by_hand(register_dir, kept, "UPDATE audit SET detail = 'edited' WHERE seq = 2")
    result = _verify_as_found(register_dir, kept)
    assert result.problems == ("entry 2 was changed after it was written.",)
    assert result.describe() == "The audit trail has been altered: entry 2 was changed after it was written."


def test_rows_put_straight_into_a_table_the_register_was_signed_without_are_reported(register_dir, monkeypatch):
    """A register signed before the reconciliations table existed: rows an insider puts there
    directly (no signed entry counts them) are reported, in the sentence the screen shows."""
    from gp_optout_desktop.domain import roles
    from gp_optout_desktop.services import setup, users
    from gp_optout_desktop.store import attest

    with monkeypatch.context() as older:
        older.setattr(attest, "TABLES", tuple(t for t in attest.TABLES if t != "reconciliations"))
        practice = setup.practice_details(name="Test Surgery", address=["1 Test Road", "Testtown"],
                                          phone="01632 960001", email="surgery@example.invalid")
        pm, _recovery = setup.create_register(register_dir, ods="F84003", practice=practice, user="pm",
                                              password="pm-password-1")
        users.add(pm, "desk1", roles.RECEPTIONIST, DESK_PASSWORD)
        pm.lock()
    kept = _keys_of(register_dir, "desk1", DESK_PASSWORD)
    assert _verify_as_found(register_dir, kept).ok
    _change_by_hand(register_dir, kept,
                    "INSERT INTO reconciliations(at, run_by, source, encoding, delimiter, rows, not_coded, "
                    "not_in_register, differ, agree, rows_not_in_register, rows_differ, rows_agree, confirmed) "
                    "VALUES ('2026-11-02T09:00:00+00:00', 'desk1', 'x.csv', 'utf-8', ',', 1, 0, 0, 0, 1, 0, 0, 1, 1)")
    result = _verify_as_found(register_dir, kept)
    assert result.problems == ("the reconciliations table was changed outside the app (its rows do not match the "
                               "signed audit entries).",)


def test_an_attested_table_dropped_by_hand_is_reported_even_when_it_was_empty(with_desk, register_dir):
    """The trail signs the digest of every table, empty ones too: a table the signed entries
    attest that is gone from the register file was removed outside the app, and is named,
    whether or not it held rows (an empty table and no table are not the same register)."""
    with_desk.lock()
    kept = _keys_of(register_dir, "desk1", DESK_PASSWORD)
    assert _verify_as_found(register_dir, kept).ok
    _change_by_hand(register_dir, kept, "DROP TABLE reconciliations")  # no reconciliation run yet: empty
    result = _verify_as_found(register_dir, kept)
    assert result.problems == ("the reconciliations table is missing (signed audit entries attest its rows).",)


def test_a_trail_emptied_by_hand_is_reported_against_every_head_kept(with_desk, register_dir):
    """Against the head in the key file and the one kept in the register: each is named."""
    from gp_optout_desktop.store import database, keyfile, meta

    with_desk.lock()
    kept = _keys_of(register_dir, "desk1", DESK_PASSWORD)
    recorded = A.Head.from_dict(keyfile.KeyFile.load(register_dir / "register.keys").data["audit_head"])
    conn = database.connect(register_dir / "register.db", kept[1])
    try:
        inside = A.Head.from_dict(meta.get(conn, A.HEAD_META))
        conn.execute("DELETE FROM audit")
        conn.commit()
        result = A.AuditChain(A.load_key(conn), register_id=kept[0]).verify(
            conn, recorded, extra_heads=(("kept in the register", inside),))
    finally:
        conn.close()
    assert not result.ok
    assert result.problems[-2:] == (
        f"entries after 0 are missing (the trail reached {recorded.seq} before, recorded earlier).",
        f"entries after 0 are missing (the trail reached {inside.seq} before, kept in the register).")


def test_an_older_copy_not_yet_adopting_letters_still_has_its_other_tables_checked(register_dir, add_patient,
                                                                                   monkeypatch):
    """A register (or backup) from before letters were attested is checked as found: letters
    are left out until its next unlock adopts them, every other table is still compared."""
    from gp_optout_desktop.domain import roles
    from gp_optout_desktop.services import setup, users
    from gp_optout_desktop.store import attest

    with monkeypatch.context() as older:
        older.setattr(attest, "TABLES", tuple(t for t in attest.TABLES if t != "letters"))
        practice = setup.practice_details(name="Test Surgery", address=["1 Test Road", "Testtown"],
                                          phone="01632 960001", email="surgery@example.invalid")
        pm, _recovery = setup.create_register(register_dir, ods="F84003", practice=practice, user="pm",
                                              password="pm-password-1")
        add_patient(pm, surname="Alpha")
        users.add(pm, "desk1", roles.RECEPTIONIST, DESK_PASSWORD)
        pm.lock()
    kept = _keys_of(register_dir, "desk1", DESK_PASSWORD)
    assert _verify_as_found(register_dir, kept).ok
    _change_by_hand(register_dir, kept, "UPDATE patients SET surname = 'Changed'")
    result = _verify_as_found(register_dir, kept)
    assert result.problems == ("the patients table was changed outside the app (its rows do not match the "
                               "signed audit entries).",)


def test_a_lock_is_recorded_as_a_plain_entry_for_the_user(manager, register_dir):
    """Locking writes 'session.lock' for the user: no patient, no detail, outcome ok."""
    manager.lock()
    from gp_optout_desktop.services import session as session_service

    pm = session_service.unlock(register_dir, "pm", "pm-password-1")
    try:
        with pm.register.reading() as conn:
            locks = [r for r in A.select(conn) if r[4] == "session.lock"]
    finally:
        pm.lock()
    assert [(r[2], r[5], r[6], r[8]) for r in locks] == [("pm", "", "ok", "")]
    # its time in UTC with the offset written out, as the trail's date filters compare them
    assert datetime.fromisoformat(locks[0][1]).utcoffset() == timezone.utc.utcoffset(None)
    assert locks[0][1].endswith("+00:00")


def test_a_change_that_fails_halfway_leaves_the_trail_verifying(manager, register_dir, add_patient):
    """A write that changes rows and then fails is rolled back whole, a bulk insert (an import,
    whose rows are counted in memory, not by the table's trigger) included: its row changes
    must not be counted into the next write's signed entry, or the register would look altered."""
    from gp_optout_desktop.domain.nhs_number import synthetic_range
    from gp_optout_desktop.store import bulk

    add_patient(manager, surname="Alpha")
    with pytest.raises(RuntimeError, match="halfway"):
        with manager.write("edit_patient") as ctx:
            ctx.conn.execute("UPDATE patients SET surname = 'Half'")
            first, _, _ = bulk.next_ids(ctx.conn)
            bulk.insert_patients(ctx.conn, [
                (first + i, nhs, "", f"Person{i}", "Pat", f"PERSON{i}", "1970-01-01", "[]", "LS1 4AP", "LS14AP",
                 "", "", "2026-01-01T00:00:00+00:00", "test") for i, nhs in enumerate(synthetic_range(660_000)[-3:])])
            raise RuntimeError("failed halfway")
    add_patient(manager, surname="Beta")
    manager.lock()
    result = _verify_as_pm(register_dir)
    assert result.ok, result.problems
