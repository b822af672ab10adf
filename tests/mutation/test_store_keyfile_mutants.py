"""The key file as a practice relies on it: a key file written by an earlier release still
opens (its wrapping, labels and check values are a format, not an implementation detail),
the recovery key is typed as printed in any case and spacing, the wrong-password delay
follows its published schedule to the second, and every refusal says what to do. Written
to close survivors of scripts/run-mutation over store/keyfile.py (docs/mutation-testing.md,
"store modules")."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from argon2.low_level import Type, hash_secret_raw

from gp_optout_desktop import child_task
from gp_optout_desktop.store import keyfile
from gp_optout_desktop.store.errors import KeyDamaged, StoreError, Throttled, WrongPassword

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "register-v3"
V3_RECOVERY = "4KDR-DMW7-SFHY-U7KW-GDAR-MJFG-IAVT-4CEH-KLBG-KOY7-5DOM-3JE5-BMOJ"
NOW = datetime(2026, 3, 2, 12, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def v3_keys(tmp_path) -> keyfile.KeyFile:
    """The key file of a register written by an earlier release (tests/fixtures/register-v3)."""
    shutil.copy2(FIXTURE / "register.keys", tmp_path / "register.keys")
    return keyfile.KeyFile.load(tmp_path / "register.keys")


def test_a_key_file_written_by_an_earlier_release_still_opens(v3_keys):
    data_key = v3_keys.unlock("manager", "manager-demo-pass", now=NOW)
    assert len(data_key) == 32
    assert v3_keys.unlock("reception", "reception-demo-pass", now=NOW) == data_key
    assert v3_keys.unlock_with_recovery(V3_RECOVERY, now=NOW) == data_key
    # The same secrets in lower case, spaced or run together: as a person types them from paper.
    assert v3_keys.unlock_with_recovery(V3_RECOVERY.lower().replace("-", " "), now=NOW) == data_key
    assert v3_keys.unlock_with_recovery(V3_RECOVERY.replace("-", ""), now=NOW) == data_key


def test_a_new_key_file_round_trips_through_disk(tmp_path):
    keys = keyfile.KeyFile.create(tmp_path / "register.keys", "ab" * 16)
    assert keys.data == {"format": 1, "register_id": "ab" * 16, "users": {}, "throttle": {}, "audit_head": None}
    data_key = keyfile.new_data_key()
    keys.wrap("alice", "alice-password", data_key, must_change=True, extra={"audit": b"seed" * 8})
    recovery = keyfile.new_recovery_key()
    keys.wrap_recovery(recovery, data_key)
    keys.save()
    again = keyfile.KeyFile.load(tmp_path / "register.keys")
    assert again.unlock("alice", "alice-password", now=NOW) == data_key
    assert again.unlock_slot("alice", "alice-password", now=NOW).get("audit") == b"seed" * 8
    assert again.unlock_with_recovery(recovery.lower(), now=NOW) == data_key
    assert again.must_change("alice") and not again.must_change("nobody")
    assert again.has_user("alice") and not again.has_user(keyfile.RECOVERY_USER)
    assert again.user_names() == ["alice"]
    entry = again.data["users"]["alice"]
    assert entry["kdf"] == keyfile.KDF_DEFAULTS and len(keyfile._unb64(entry["salt"])) == 16
    assert len(keyfile._unb64(entry["nonce"])) == 12 and again.data["users"][keyfile.RECOVERY_USER]["kdf"] == {
        "alg": "hkdf-sha256"}
    assert again.lock_path == tmp_path / "register.keys.lock"


def test_a_recovery_key_is_52_base32_characters_in_groups_of_four():
    seen = set()
    for _ in range(20):
        key = keyfile.new_recovery_key()
        assert re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){12}", key), key
        assert keyfile.normalise_recovery(f"  {key.lower()} ") == key.replace("-", "")
        seen.add(key)
    assert len(seen) == 20
    assert keyfile.normalise_recovery("ab-cd ef\t1.2") == "ABCDEF12"
    assert len(keyfile.new_register_id()) == 32 and int(keyfile.new_register_id(), 16) >= 0


def test_the_wrong_password_delay_follows_its_schedule(tmp_path):
    keys = keyfile.KeyFile.create(tmp_path / "register.keys", "cd" * 16)
    keys.wrap("bob", "bob-password", keyfile.new_data_key())
    keys.save()
    delays = []
    for n in range(1, 12):
        with pytest.raises(WrongPassword, match="^The user name or password is wrong.$"):
            keys.unlock("bob", "not-it", now=NOW)  # never throttled: each try is at NOW, checked against retry
        retry = keys.retry_at("bob")
        delays.append(None if retry is None else int((retry - NOW).total_seconds()))
        keys.data["throttle"]["bob"]["retry_at"] = None  # so the next try is allowed, the count kept
    assert delays == [None, None, None, None, 30, 60, 120, 240, 480, 900, 900]
    assert keys.throttle_state("BOB")["failures"] == 11  # user names are counted case-folded
    pending = keyfile.KeyFile.load(tmp_path / "register.keys").data["failed_unlocks"]
    assert len(pending) == 11 and pending[0] == {"user": "bob", "at": NOW.isoformat()}


def test_a_throttled_user_is_told_the_time_of_the_next_try_and_may_try_then(tmp_path):
    keys = keyfile.KeyFile.create(tmp_path / "register.keys", "ef" * 16)
    keys.wrap("carol", "carol-password", keyfile.new_data_key())
    keys.save()
    for _ in range(keyfile.FREE_FAILURES):
        with pytest.raises(WrongPassword):
            keys.unlock("carol", "wrong", now=NOW)
    retry = keys.retry_at("Carol")
    assert retry == NOW + timedelta(seconds=keyfile.FIRST_DELAY_S)
    with pytest.raises(Throttled, match=r"^Too many wrong passwords\. The next try is allowed at 12:00:30\.$") as t:
        keys.unlock("carol", "carol-password", now=retry - timedelta(microseconds=1))
    assert t.value.retry_at == retry
    assert keys.unlock("carol", "carol-password", now=retry)  # at the time given, the right password works
    keys.clear_throttle("CAROL")
    assert keys.retry_at("carol") is None and keys.throttle_state("carol") == {"failures": 0, "retry_at": None,
                                                                               "log": []}


def test_failed_unlocks_kept_are_bounded_and_drained_once(tmp_path):
    keys = keyfile.KeyFile.create(tmp_path / "register.keys", "01" * 16)
    for i in range(1005):
        keys._add_failure("x" * 70 if i == 1004 else f"user{i}", NOW)
    pending = keys.data["failed_unlocks"]
    assert len(pending) == 1000 and pending[0]["user"] == "user5" and pending[-1]["user"] == "x" * 64
    assert keys.drain_failed_unlocks() == pending and keys.drain_failed_unlocks() == []


def test_the_recovery_slot_is_not_opened_by_a_user_name_and_password(v3_keys):
    with pytest.raises(WrongPassword, match="^The user name or password is wrong.$"):
        v3_keys.unlock(keyfile.RECOVERY_USER, keyfile.normalise_recovery(V3_RECOVERY), now=NOW)
    with pytest.raises(WrongPassword, match="^That recovery key does not unlock this register.$"):
        v3_keys.unlock_with_recovery("AAAA-" * 12 + "AAAA", now=NOW)
    assert v3_keys.try_unwrap("nobody", "anything") is None  # an unknown name is a wrong password, not an error


def test_a_damaged_wrapped_key_or_secret_is_named_as_damage(tmp_path):
    keys = keyfile.KeyFile.create(tmp_path / "register.keys", "23" * 16)
    keys.wrap("dan", "dan-password", keyfile.new_data_key(), extra={"audit": b"s" * 32})
    slot = keys.try_open("dan", "dan-password")
    sealed = keys.data["users"]["dan"]["secrets"]["audit"]
    sealed["wrapped"] = keyfile._b64(bytes(len(keyfile._unb64(sealed["wrapped"]))))
    with pytest.raises(KeyDamaged, match="^The key file's audit key for dan is damaged. Restore register.keys from a "
                                         "backup, or ask a practice manager to reset the password.$"):
        slot.get("audit")
    assert slot.get("manager") is None  # a secret never put is absent, not damage
    entry = keys.data["users"]["dan"]
    entry["wrapped"] = keyfile._b64(bytes(len(keyfile._unb64(entry["wrapped"]))))
    with pytest.raises(KeyDamaged) as damaged:
        keys.try_open("dan", "dan-password")
    assert str(damaged.value) == ("The key file's entry for dan is damaged: the password is right but the key it "
                                  "protects fails its check. Restore register.keys from a backup, or ask a practice "
                                  "manager to reset your password.")
    assert keys.try_open("dan", "wrong-password") is None  # a wrong password is still just wrong


def test_a_slot_changed_in_another_window_is_not_written_into(tmp_path):
    keys = keyfile.KeyFile.create(tmp_path / "register.keys", "45" * 16)
    data_key = keyfile.new_data_key()
    keys.wrap("eve", "eve-password", data_key)
    keys.save()
    slot = keys.try_open("eve", "eve-password")
    assert slot.on(keyfile.KeyFile.load(keys.path)).name == "eve"
    other = keyfile.KeyFile.load(keys.path)
    other.wrap("eve", "new-password", data_key)  # a password change elsewhere re-wraps the slot
    with pytest.raises(StoreError, match="^The key slot of eve was changed in another window since this unlock; "
                                         "nothing was changed. Lock, then unlock again.$"):
        slot.on(other)
    other.remove("eve")
    with pytest.raises(StoreError, match="key slot of eve was changed"):
        slot.on(other)


def test_remove_and_drop_secret_forget_only_what_they_name(tmp_path):
    keys = keyfile.KeyFile.create(tmp_path / "register.keys", "67" * 16)
    data_key = keyfile.new_data_key()
    keys.wrap("fay", "fay-password", data_key, extra={"audit": b"a" * 32, "manager": b"m" * 32})
    keys.wrap("gus", "gus-password", data_key)
    keys._add_failure("Fay", NOW)
    keys._add_failure("gus", NOW)
    keys.drop_secret("fay", "manager")
    keys.drop_secret("nobody", "manager")  # nothing to forget: no error
    assert keys.has_secret("fay", "audit") and not keys.has_secret("fay", "manager")
    keys.remove("fay")
    assert not keys.has_user("fay") and keys.has_user("gus")
    assert "fay" not in keys.data["throttle"] and "gus" in keys.data["throttle"]


def test_a_key_file_that_is_missing_damaged_or_foreign_is_named(tmp_path):
    path = tmp_path / "register.keys"
    with pytest.raises(StoreError, match="^The key file register.keys is missing beside the register. Without it "
                                         "nobody can unlock the register: restore it from a backup, or restore the "
                                         "whole register.$"):
        keyfile.KeyFile.load(path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(StoreError, match=r"^The key file register.keys is unreadable or damaged \(JSONDecodeError\)\.$"):
        keyfile.KeyFile.load(path)
    path.write_text(json.dumps({"format": 2, "users": {}}), encoding="utf-8")
    with pytest.raises(StoreError, match="^The key file register.keys is not one this version can read.$"):
        keyfile.KeyFile.load(path)
    path.write_text(json.dumps({"format": 1, "register_id": "89" * 16}), encoding="utf-8")
    with pytest.raises(StoreError, match="not one this version can read"):
        keyfile.KeyFile.load(path)


def test_an_update_keeps_another_windows_change_and_refuses_a_foreign_file(tmp_path):
    path = tmp_path / "register.keys"
    mine = keyfile.KeyFile.create(path, "aa" * 16)
    mine.update(lambda fresh: fresh.data.__setitem__("revision_seen", 3))  # not written yet: a new register
    assert keyfile.KeyFile.load(path).data["revision_seen"] == 3
    theirs = keyfile.KeyFile.load(path)
    theirs.update(lambda fresh: fresh.data.__setitem__("audit_head", {"seq": 7, "mac": "f" * 64}))
    mine.update(lambda fresh: fresh.data.__setitem__("revision_seen", 4))
    on_disk = keyfile.KeyFile.load(path).data
    assert on_disk["audit_head"] == {"seq": 7, "mac": "f" * 64} and on_disk["revision_seen"] == 4
    assert mine.data == on_disk  # this object now holds the merged contents
    keyfile.KeyFile.create(path, "bb" * 16).save()  # a restore or re-key elsewhere put another register's file here
    with pytest.raises(StoreError, match="^The key file register.keys now belongs to a different register; nothing "
                                         "was changed. Lock, then unlock again.$"):
        mine.update(lambda fresh: fresh.data.__setitem__("revision_seen", 5))
    assert keyfile.KeyFile.load(path).register_id == "bb" * 16


def test_an_unknown_key_derivation_is_refused_in_words():
    with pytest.raises(StoreError, match="unknown"):
        keyfile.derive_kek("pw", b"\0" * 16, {"alg": "scrypt", "t": 1, "m_kib": 8192, "p": 1})
    assert 0 < keyfile.kdf_seconds({"alg": "argon2id", "t": 1, "m_kib": 8192, "p": 1}) < 60  # a duration, in seconds


def test_a_throttle_entry_without_a_count_counts_from_zero(tmp_path):
    """The schema accepts a throttle entry with no 'failures' (only a retry time): the next
    wrong password is then the first counted, not the second."""
    path = tmp_path / "register.keys"
    keys = keyfile.KeyFile.create(path, "cd" * 16)
    keys.wrap("hal", "hal-password", keyfile.new_data_key())
    keys.data["throttle"]["hal"] = {"retry_at": None}
    keys.save()
    keys = keyfile.KeyFile.load(path)
    with pytest.raises(WrongPassword):
        keys.unlock("hal", "wrong", now=NOW)
    assert keyfile.KeyFile.load(path).throttle_state("hal")["failures"] == 1


def test_forgetting_what_is_not_there_is_not_an_error(v3_keys, tmp_path):
    """An old key file's entries have no wrapped secrets; a user may have no manager key; a
    user may be gone already: forgetting any of these changes nothing and raises nothing."""
    assert not v3_keys.has_secret("reception", "audit")
    v3_keys.drop_secret("reception", "manager")
    keys = keyfile.KeyFile.create(tmp_path / "register.keys", "98" * 16)
    keys.wrap("ivy", "ivy-password", keyfile.new_data_key())
    keys.drop_secret("ivy", "manager")
    keys.remove("nobody")
    assert keys.has_user("ivy") and keys.data["users"]["ivy"]["secrets"] == {}


def test_the_recovery_key_is_throttled_and_recorded_at_the_time_given(v3_keys):
    v3_keys.data["throttle"][keyfile.RECOVERY_USER] = {"failures": 5, "retry_at": (NOW + timedelta(seconds=30)).isoformat()}
    with pytest.raises(Throttled):
        v3_keys.unlock_with_recovery(V3_RECOVERY, now=NOW)
    later = NOW + timedelta(seconds=31)
    with pytest.raises(WrongPassword):
        v3_keys.unlock_recovery_slot("AAAA-" * 12 + "AAAA", now=later)
    assert v3_keys.data["failed_unlocks"][-1] == {"user": keyfile.RECOVERY_USER, "at": later.isoformat()}


def test_a_slot_taken_on_a_fresh_file_keeps_its_keys(tmp_path):
    keys = keyfile.KeyFile.create(tmp_path / "register.keys", "76" * 16)
    data_key = keyfile.new_data_key()
    keys.wrap("jo", "jo-password", data_key)
    keys.save()
    slot = keys.try_open("jo", "jo-password")
    fresh = keyfile.KeyFile.load(keys.path)
    moved = slot.on(fresh)
    assert (moved.keys, moved.data_key, moved.kek, moved.salt) == (fresh, data_key, slot.kek, slot.salt)


# Server mode's login (store/keyfile.py derive_server_secrets): the same password and salt must
# give the same login and unwrap key at every desk and in every later version, or nobody could
# log in to the server again. The layout, computed here independently of the module:
def _server_secrets_by_hand(password, salt, kdf):
    import base64

    from argon2.low_level import Type, hash_secret_raw
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    stretched = hash_secret_raw(password.encode("utf-8"), salt, kdf["t"], kdf["m_kib"], kdf["p"], 32, Type.ID)
    unwrap = HKDF(hashes.SHA256(), 32, None, b"gp-optout server v1 key unwrap").derive(stretched)
    login = HKDF(hashes.SHA256(), 32, None, b"gp-optout server v1 database login").derive(stretched)
    return unwrap, base64.urlsafe_b64encode(login).decode("ascii").rstrip("=")


@pytest.mark.parametrize("password", ["correct horse battery staple", "pässwörd-1"])
def test_a_server_login_is_derived_the_same_way_at_every_desk(password):
    kdf = {"alg": "argon2id", "t": 1, "m_kib": 64, "p": 1}
    salt = bytes(range(16))
    unwrap, login = keyfile.derive_server_secrets(password, salt, kdf)
    assert (unwrap, login) == _server_secrets_by_hand(password, salt, kdf)
    assert len(unwrap) == 32 and len(login) == 43 and "=" not in login
    assert keyfile.derive_server_secrets(password, bytes(16), kdf) != (unwrap, login)   # the salt counts
    assert keyfile.derive_server_secrets(password, salt, {**kdf, "t": 2}) != (unwrap, login)   # so do the parameters


@pytest.mark.parametrize("kdf", [{"alg": "hkdf-sha256"}, {"alg": "scrypt", "t": 1, "m_kib": 64, "p": 1}, {}])
def test_a_server_login_refuses_anything_but_argon2id(kdf):
    with pytest.raises(StoreError) as refused:
        keyfile.derive_server_secrets("a-password-1", bytes(16), kdf)
    assert str(refused.value) == "A server login needs an Argon2id key derivation."


def test_key_derivation_parameters_out_of_bounds_are_refused_before_argon2_runs():
    """Parameters that did not come through a loaded key file (a server's stored ones, in
    server mode) are checked again before Argon2 runs: a billion KiB is refused at once, in
    the key file's words, naming the field, instead of the app trying to take that memory."""
    tail = " Nothing was changed; restore register.keys from a backup (or the whole register)."
    huge = {"alg": "argon2id", "t": 1, "m_kib": 10**9, "p": 1}
    for derive in (keyfile.derive_kek, keyfile.derive_server_secrets):
        with pytest.raises(StoreError) as refused:
            derive("pw", b"\0" * 16, huge)
        assert str(refused.value) == ("The key file register.keys is damaged: kdf.m_kib is 1000000000, outside "
                                      f"8..1048576.{tail}")
    with pytest.raises(StoreError) as refused:
        keyfile.derive_kek("pw", b"\0" * 16, {"alg": "scrypt"})
    assert str(refused.value) == f"The key file register.keys is damaged: kdf.alg names an unknown key derivation.{tail}"


def test_a_damaged_key_file_is_named_in_the_refusal(tmp_path):
    """A key file that parses but breaks its schema: the refusal names the file to restore."""
    path = tmp_path / "register.keys"
    keyfile.KeyFile.create(path, "ef" * 16).save()
    data = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**data, "throttle": ["not", "an", "object"]}), encoding="utf-8")
    with pytest.raises(StoreError) as refused:
        keyfile.KeyFile.load(path)
    assert str(refused.value) == ("The key file register.keys is damaged: throttle is not an object of objects. "
                                  "Nothing was changed; restore register.keys from a backup (or the whole register).")


def test_a_key_file_without_a_throttle_table_still_counts_wrong_passwords(tmp_path):
    """The schema accepts a key file with no throttle table (none was ever needed): a user
    still unlocks, and a wrong password is counted and kept, not an error."""
    path = tmp_path / "register.keys"
    keys = keyfile.KeyFile.create(path, "fe" * 16)
    data_key = keyfile.new_data_key()
    keys.wrap("ida", "ida-password", data_key)
    del keys.data["throttle"]
    keys.save()
    assert "throttle" not in json.loads(path.read_text(encoding="utf-8"))
    keys = keyfile.KeyFile.load(path)
    assert keys.unlock("ida", "ida-password", now=NOW) == data_key
    assert keys.throttle_state("ida")["failures"] == 0
    with pytest.raises(WrongPassword):
        keys.unlock("ida", "wrong", now=NOW)
    assert keyfile.KeyFile.load(path).throttle_state("ida")["failures"] == 1


def test_the_restore_attempts_file_loads_so_wrong_backup_passwords_keep_counting(tmp_path):
    """With no register that loads, wrong passwords tried against a backup are counted in a
    small file of the key file's shape (services/backup.py ``_attempts``). It must load as
    what it is, or each try would start a fresh file and the count (and delay) would reset."""
    from gp_optout_desktop.store import keyschema

    path = tmp_path / keyschema.ATTEMPTS_NAME
    attempts = keyfile.KeyFile.create(path, keyschema.ATTEMPTS_ID)
    attempts.data["throttle"]["pm"] = {"failures": 3, "retry_at": None}
    attempts.save()
    again = keyfile.KeyFile.load(path)
    assert again.register_id == keyschema.ATTEMPTS_ID
    assert again.throttle_state("pm")["failures"] == 3


# A key file written by this release (tests/fixtures/keys-v4, made at ee040fa with cheap
# Argon2 parameters): its check values and the secrets wrapped in its slots are a format that
# every later release must read, or a practice's manager would lose the audit and manager
# keys at the next upgrade, and a damaged entry would read as a wrong password.
V4_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "keys-v4"
V4_DATA_KEY = bytes(range(32))
V4_RECOVERY = "ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567-ABCD-EFGH-IJKL-MNOP-QRST"


@pytest.fixture
def v4_keys(tmp_path) -> keyfile.KeyFile:
    shutil.copy2(V4_FIXTURE / "register.keys", tmp_path / "register.keys")
    return keyfile.KeyFile.load(tmp_path / "register.keys")


def test_a_kept_key_file_opens_with_the_secrets_in_its_slots(v4_keys):
    slot = v4_keys.unlock_slot("pm", "pm-fixture-pass", now=NOW)
    assert slot.data_key == V4_DATA_KEY
    assert slot.get("audit") == b"A" * 32 and slot.get("manager") == b"M" * 32
    recovery = v4_keys.unlock_recovery_slot(V4_RECOVERY.lower(), now=NOW)
    assert recovery.data_key == V4_DATA_KEY and recovery.get("manager") == b"M" * 32


def test_a_damaged_entry_in_a_kept_key_file_is_named_as_damage_not_a_wrong_password(v4_keys):
    entry = v4_keys.data["users"]["pm"]
    wrapped = bytearray(keyfile._unb64(entry["wrapped"]))
    wrapped[0] ^= 0x01
    entry["wrapped"] = keyfile._b64(bytes(wrapped))
    with pytest.raises(KeyDamaged, match="^The key file's entry for pm is damaged"):
        v4_keys.try_open("pm", "pm-fixture-pass")
    assert v4_keys.try_open("pm", "not-the-password") is None


def test_a_slot_whose_user_was_removed_since_reads_no_secret(tmp_path):
    """Another window removed this user after their unlock: once this window's key file is
    refreshed (any update), the slot it still holds finds no secret, as for one never wrapped."""
    keys = keyfile.KeyFile.create(tmp_path / "register.keys", "5a" * 16)
    data_key = keyfile.new_data_key()
    keys.wrap("kim", "kim-password", data_key, extra={"audit": b"k" * 32})
    keys.wrap("lee", "lee-password", data_key)
    keys.save()
    slot = keys.try_open("kim", "kim-password")
    keyfile.KeyFile.load(keys.path).update(lambda fresh: fresh.remove("kim"))
    keys.update(lambda fresh: None)  # this window's next write reads the file as it is now
    assert slot.get("audit") is None and slot.get("manager") is None


def test_a_key_file_held_too_long_by_another_program_is_refused_in_words(tmp_path, monkeypatch):
    """Another window or program holds the key file's lock past the wait: the change is
    refused, saying it is the key file that is busy, and the file is left as it was."""
    from gp_optout_desktop.store import filelock

    monkeypatch.setattr(filelock, "WAIT_S", 0.2)  # the wait is 30 s in the app
    keys = keyfile.KeyFile.create(tmp_path / "register.keys", "6b" * 16)
    keys.wrap("max", "max-password", keyfile.new_data_key())
    keys.save()
    before = keys.path.read_bytes()
    # flock: a second descriptor of the lock file conflicts like another process would.
    with filelock.held(keys.lock_path, "other program"):
        with pytest.raises(filelock.LockBusy) as busy:
            keys.update(lambda fresh: fresh.remove("max"))
    assert str(busy.value) == "The key file is busy in another window or program; nothing was changed. Try again."
    assert keys.path.read_bytes() == before
    keys.update(lambda fresh: fresh.remove("max"))  # once released, the same change goes through
    assert not keyfile.KeyFile.load(keys.path).has_user("max")


def _wait_answer(gate, after, timeout):
    """``gate.wait_released`` on another thread: its answer, or "still waiting" after 5 s."""
    import threading

    answer = []
    waiter = threading.Thread(target=lambda: answer.append(gate.wait_released(after, timeout)), daemon=True)
    waiter.start()
    waiter.join(5)
    return answer[0] if answer else "still waiting"


def test_the_warm_up_waits_for_argon2_to_release_its_memory_and_no_longer():
    """ui/warm.py marks the gate before an unlock, then waits in short slices for an Argon2
    run after the mark to finish with none still running: never before (their memory would
    stack at the peak), never forever (a refused unlock runs none), and each slice ends."""
    gate = keyfile._Argon2Gate()
    mark = gate.finished  # ui.warm.mark()
    assert (mark, gate.running) == (0, 0)
    assert _wait_answer(gate, mark, 0.05) is False  # no run since the mark: the slice ends, not released
    with gate.held():
        with gate.held():  # the unlock's span and the Argon2 run inside it
            assert gate.running == 2
        assert _wait_answer(gate, mark, 0.05) is False  # one run over, the span still holds memory
    assert (gate.running, gate.finished) == (0, 2)
    assert _wait_answer(gate, mark, 0.05) is True
    assert _wait_answer(gate, gate.finished, 0.05) is False  # a later mark waits for a later run


def test_a_password_derivation_holds_the_gate_and_the_recovery_key_does_not():
    gate = keyfile.ARGON2_GATE
    mark = gate.finished
    keyfile.derive_kek("pm-password-1", b"\1" * 16, {"alg": "argon2id", "t": 1, "m_kib": 8, "p": 1})
    assert gate.finished == mark + 1 and gate.running == 0 and gate.wait_released(mark, 0) is True
    keyfile.derive_kek("RECOVERYKEY", b"\2" * 16, {"alg": "hkdf-sha256"})  # no Argon2, no memory to wait for
    assert gate.finished == mark + 1


OLD_KDF = {"alg": "argon2id", "t": 2, "m_kib": 16, "p": 1}   # stands in for a superseded default
NEW_KDF = {"alg": "argon2id", "t": 1, "m_kib": 8, "p": 1}


def test_a_rewrapped_entry_still_asks_for_a_new_password(tmp_path, monkeypatch):
    """A manager reset this user's password (they must choose their own at the next unlock):
    the re-wrap at that unlock keeps the flag, so closing the app before choosing one does
    not let the temporary password stand."""
    monkeypatch.setattr(keyfile, "KDF_DEFAULTS", dict(NEW_KDF))
    monkeypatch.setattr(keyfile, "SUPERSEDED_KDFS", (dict(OLD_KDF),))
    keys = keyfile.KeyFile.create(tmp_path / "register.keys", "7c" * 16)
    data_key = keyfile.new_data_key()
    keys.wrap("nia", "temporary-pass-1", data_key, kdf=OLD_KDF, must_change=True, extra={"audit": b"n" * 32})
    keys.wrap("oli", "oli-password", data_key, kdf=OLD_KDF)
    keys.save()
    for name, password in (("nia", "temporary-pass-1"), ("oli", "oli-password")):
        keys.update(keyfile.prepare_rewrap(keys.try_open(name, password), password).apply)
    again = keyfile.KeyFile.load(keys.path)
    assert again.data["users"]["nia"]["kdf"] == NEW_KDF and again.must_change("nia")
    assert again.data["users"]["oli"]["kdf"] == NEW_KDF and not again.must_change("oli")
    assert again.try_open("nia", "temporary-pass-1").get("audit") == b"n" * 32


def test_an_entry_from_before_slots_held_secrets_is_rewrapped(v3_keys, monkeypatch):
    """An entry written before the key hierarchy has no secrets at all (the v3 key file): it
    is re-wrapped like any other, and opens to the same data key."""
    v3_kdf = v3_keys.data["users"]["reception"]["kdf"]
    assert "secrets" not in v3_keys.data["users"]["reception"]
    monkeypatch.setattr(keyfile, "KDF_DEFAULTS", dict(NEW_KDF))
    monkeypatch.setattr(keyfile, "SUPERSEDED_KDFS", (dict(v3_kdf),))
    slot = v3_keys.unlock_slot("reception", "reception-demo-pass", now=NOW)
    prepared = keyfile.prepare_rewrap(slot, "reception-demo-pass")
    v3_keys.update(prepared.apply)
    again = keyfile.KeyFile.load(v3_keys.path)
    assert again.data["users"]["reception"]["kdf"] == NEW_KDF
    assert again.unlock("reception", "reception-demo-pass", now=NOW) == slot.data_key
    assert not again.must_change("reception")


def test_a_rewrap_never_undoes_a_password_changed_elsewhere_on_a_slot_without_secrets(v3_keys, monkeypatch):
    """The user's password was changed in another window between this unlock and its re-wrap,
    on an entry with no secrets to tell the two apart (a v3 one): the newer password stays,
    and the one typed at this unlock does not open the slot again."""
    monkeypatch.setattr(keyfile, "KDF_DEFAULTS", dict(NEW_KDF))
    monkeypatch.setattr(keyfile, "SUPERSEDED_KDFS", (dict(v3_keys.data["users"]["gp"]["kdf"]),))
    slot = v3_keys.unlock_slot("gp", "gp-demo-pass", now=NOW)
    prepared = keyfile.prepare_rewrap(slot, "gp-demo-pass")
    elsewhere = keyfile.KeyFile.load(v3_keys.path)
    elsewhere.update(lambda fresh: fresh.wrap("gp", "gp-new-pass-1", slot.data_key))
    with pytest.raises(StoreError):
        v3_keys.update(prepared.apply)
    again = keyfile.KeyFile.load(v3_keys.path)
    assert again.unlock("gp", "gp-new-pass-1", now=NOW) == slot.data_key
    assert again.try_open("gp", "gp-demo-pass") is None


# The password check in a process of its own, as the desktop app runs it (derive_kek through
# child_task; tests/store/test_unlock_apart.py does the same through whole unlocks, but at
# about 40 s it is too slow for each mutant's run). Each test here spawns one or two children.
APART_KDF = {"alg": "argon2id", "t": 1, "m_kib": 64, "p": 1}
APART_SALT = b"apart-salt-16-by"


def _expected_key(password: str) -> bytes:
    """Argon2id as the format defines it, computed without the app's code."""
    return hash_secret_raw(password.encode("utf-8"), APART_SALT, 1, 64, 1, 32, Type.ID)


def test_a_password_checked_in_its_own_process_gives_the_key_and_the_app_never_holds_argon2(apart):
    ran = keyfile.ARGON2_GATE.finished
    assert keyfile.derive_kek("apart-password", APART_SALT, APART_KDF) == _expected_key("apart-password")
    assert keyfile.ARGON2_GATE.finished == ran  # the child ran it: the app's own gate never held Argon2's memory


def test_a_password_check_whose_process_is_killed_is_said_in_words_then_the_app_checks_it_itself(apart, caplog):
    outcome = apart.killed_during(lambda: keyfile.derive_kek("apart-password", APART_SALT, APART_KDF))
    error = outcome.get("error")
    assert isinstance(error, child_task.ChildTaskFailed), outcome
    assert str(error) == ("The password check stopped before it finished (its process ended). Nothing was changed. "
                          "Try again: the next try checks the password in the app itself.")
    assert ("The password check's process ended without a key; checking in the app from now on (ChildTaskFailed"
            in caplog.text)
    ran = keyfile.ARGON2_GATE.finished
    assert keyfile.derive_kek("apart-password", APART_SALT, APART_KDF) == _expected_key("apart-password")
    assert keyfile.ARGON2_GATE.finished == ran + 1  # as it said: in the app, under the gate, no child this time


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sets the open-file limit and reads /proc/self/fd")
def test_when_no_process_can_be_started_the_password_is_checked_in_the_app_under_the_gate(apart, caplog):
    """The system refuses a new process (here: no file descriptor left, as under a low open-file
    limit): the password is checked in the app instead, holding the gate, and the log says so."""
    import resource
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()  # the spawn's helper process, started before the limit as in a running app
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    held: list[int] = []
    ran = keyfile.ARGON2_GATE.finished
    try:
        top = max(int(fd) for fd in os.listdir("/proc/self/fd")) + 16
        resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))
        with pytest.raises(OSError):
            while True:  # every descriptor below the limit taken...
                held.append(os.open(os.devnull, os.O_RDONLY))
        for fd in held[-3:]:  # ...but three: the task's pipe opens, the process's own pipes cannot
            os.close(fd)
        del held[-3:]
        key = keyfile.derive_kek("apart-password", APART_SALT, APART_KDF)
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert key == _expected_key("apart-password")
    assert keyfile.ARGON2_GATE.finished == ran + 1
    assert "A process for the password check could not be started; running it in the app instead (OSError [EMFILE]" \
        in caplog.text


def test_every_character_of_a_recovery_key_is_random():
    """The recovery key is printed as 52 base32 characters, 260 bits (its docstring, the
    recovery sheet): each of the 52, the last too, takes any of the 32 values. Over 64 keys a
    position that carried fewer bits would show 2 to 16 values; a random one shows 20 or more
    (fewer than 12 has a chance below 1e-9)."""
    keys = [keyfile.normalise_recovery(keyfile.new_recovery_key()) for _ in range(64)]
    assert {len(k) for k in keys} == {52}
    for position in range(52):
        assert len({k[position] for k in keys}) >= 12, position


def test_the_derivation_timing_measures_the_parameters_it_is_given_or_the_defaults():
    """kdf_seconds is what benchmarks/bench_keys.py compares old and new parameters with: it
    derives with the parameters given (so ones out of bounds are refused, not timed as the
    defaults), and with none given, with the defaults."""
    with pytest.raises(StoreError, match="kdf.m_kib is 1000000000, outside 8..1048576"):
        keyfile.kdf_seconds({"alg": "argon2id", "t": 1, "m_kib": 10**9, "p": 1})
    assert 0 < keyfile.kdf_seconds() < 60


def test_a_backup_holds_the_key_file_exactly_as_it_is_on_disk(manager, tmp_path):
    """The key file is saved in the one layout a backup writes it in (sorted keys, one-space
    indent), so a restore puts back the very file that was there, byte for byte."""
    import zipfile

    from gp_optout_desktop.services import users
    from gp_optout_desktop.store import backup as store_backup, database

    users.add(manager, "desk", "receptionist", "desk-password")
    reg = manager.register
    store_backup.write(reg.reading, reg.data_key, reg.keys, tmp_path / "b.gpob", reg.audit.head)
    with zipfile.ZipFile(tmp_path / "b.gpob") as zf:
        assert zf.read(database.KEYS_NAME) == reg.keys.path.read_bytes()
