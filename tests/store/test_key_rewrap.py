"""Key entries wrapped with superseded Argon2id parameters are wrapped again with the current
ones at their user's next successful password unlock: once, audited (user.key_rewrapped),
crash-safe (a crash at any point leaves an entry that unlocks), and never for a wrong
password or a tampered entry (issue 13, ADR 0001 addendum)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gp_optout_desktop.services import audit, session as session_service, users
from gp_optout_desktop.store import keyfile
from gp_optout_desktop.store.errors import KeyDamaged, WrongPassword
from tests.conftest import FAST_KDF

REPO = Path(__file__).resolve().parents[2]
# Cheap stand-ins for the superseded (192 MiB) and current parameters: the rule is the same.
OLD_KDF = {"alg": "argon2id", "t": 2, "m_kib": 16384, "p": 1}


@pytest.fixture
def old_register(register_dir, monkeypatch):
    """A register whose every key entry (pm, desk1) was wrapped with OLD_KDF, then the
    defaults moved on to FAST_KDF with OLD_KDF superseded."""
    from gp_optout_desktop.services import setup

    monkeypatch.setattr(keyfile, "KDF_DEFAULTS", dict(OLD_KDF))
    session, _recovery = setup.create_register(register_dir, ods="F84003", practice=setup.practice_details(
        name="Test Surgery"), user="pm", password="pm-password-1")
    users.add(session, "desk1", "receptionist", "desk1-password")
    session.lock()
    monkeypatch.setattr(keyfile, "KDF_DEFAULTS", dict(FAST_KDF))
    monkeypatch.setattr(keyfile, "SUPERSEDED_KDFS", (dict(OLD_KDF),))
    return register_dir


def entries(folder: Path) -> dict:
    return json.loads((folder / "register.keys").read_text())["users"]


def rewrap_rows(session) -> list[tuple]:
    with session.register.reading() as conn:
        return conn.execute("SELECT user, action, detail FROM audit WHERE action = 'user.key_rewrapped'"
                            " ORDER BY seq").fetchall()


def test_an_old_entry_is_rewrapped_once_audited_and_still_unlocks(old_register):
    before = entries(old_register)
    assert before["pm"]["kdf"] == OLD_KDF and before["desk1"]["kdf"] == OLD_KDF
    session = session_service.unlock(old_register, "pm", "pm-password-1")
    after = entries(old_register)
    assert after["pm"]["kdf"] == FAST_KDF and after["pm"]["salt"] != before["pm"]["salt"]
    assert set(after["pm"]["secrets"]) == set(before["pm"]["secrets"]) == {"audit", "manager"}
    assert after["desk1"] == before["desk1"], "only the user who unlocked is re-wrapped"
    assert after["*recovery*"] == before["*recovery*"]
    assert keyfile.kdf_words(OLD_KDF) == "t=2 m=16MiB p=1" and keyfile.kdf_words({"t": 1, "m_kib": 8, "p": 1}) == \
        "t=1 m=8KiB p=1"
    assert rewrap_rows(session) == [("pm", "user.key_rewrapped", f"kdf t=2 m=16MiB p=1 -> {keyfile.kdf_words(FAST_KDF)}")]
    assert audit.verify(session).ok  # signed with the audit key carried into the new entry
    data_key = session.register.data_key
    session.lock()

    again = session_service.unlock(old_register, "pm", "pm-password-1")
    assert again.register.data_key == data_key and again.register.manager_key is not None
    assert entries(old_register)["pm"]["salt"] == after["pm"]["salt"], "re-wrapped once, not at every unlock"
    assert len(rewrap_rows(again)) == 1
    users.add(again, "desk2", "receptionist", "desk2-password")  # the manager key came across too
    assert audit.verify(again).ok
    again.lock()

    desk = session_service.unlock(old_register, "desk1", "desk1-password")
    assert entries(old_register)["desk1"]["kdf"] == FAST_KDF
    assert [r[0] for r in rewrap_rows(desk)] == ["pm", "desk1"]
    desk.lock()


def test_the_windows_unlock_returns_before_the_rewrap_which_then_is_made_once_and_audited(old_register):
    before = entries(old_register)
    session = session_service.unlock_for_window(old_register, "pm", "pm-password-1")
    assert entries(old_register) == before and rewrap_rows(session) == []  # nothing re-wrapped before it returns
    session_service.rewrap_pending(session)  # what the window runs on a worker once it is shown
    after = entries(old_register)
    assert after["pm"]["kdf"] == FAST_KDF and after["pm"]["salt"] != before["pm"]["salt"]
    assert after["desk1"] == before["desk1"] and after["*recovery*"] == before["*recovery*"]
    assert rewrap_rows(session) == [("pm", "user.key_rewrapped", f"kdf t=2 m=16MiB p=1 -> {keyfile.kdf_words(FAST_KDF)}")]
    session_service.rewrap_pending(session)  # once only
    assert len(rewrap_rows(session)) == 1 and audit.verify(session).ok
    data_key = session.register.data_key
    session.lock()
    again = session_service.unlock_for_window(old_register, "pm", "pm-password-1")
    assert again.register.data_key == data_key and again.register.manager_key is not None
    assert again.register.rewrap_later is None, "a current entry keeps no password for later"
    again.lock()


def test_a_window_locked_before_its_rewrap_keeps_the_old_entry_and_drops_the_password(old_register):
    before = entries(old_register)
    session = session_service.unlock_for_window(old_register, "pm", "pm-password-1")
    assert session.register.rewrap_later is not None
    session.lock()
    assert session.register.rewrap_later is None  # the password (and key) it held went with the lock
    session_service.rewrap_pending(session)
    assert entries(old_register) == before
    # Locked while its Argon2id ran: the entry made is not written.
    session = session_service.unlock_for_window(old_register, "pm", "pm-password-1")
    prepare = session.register.rewrap_later
    session.register.rewrap_later = lambda: (session.lock(), prepare())[1]
    session_service.rewrap_pending(session)
    assert entries(old_register)["pm"] == before["pm"]
    again = session_service.unlock(old_register, "pm", "pm-password-1")  # the next unlock re-wraps it
    assert entries(old_register)["pm"]["kdf"] == FAST_KDF and [r[0] for r in rewrap_rows(again)] == ["pm"]
    again.lock()


def test_a_wrong_password_rewraps_nothing(old_register):
    before = entries(old_register)
    with pytest.raises(WrongPassword):
        session_service.unlock(old_register, "pm", "not-the-password")
    assert entries(old_register) == before
    session = session_service.unlock(old_register, "desk1", "desk1-password")  # someone else's unlock
    assert entries(old_register)["pm"] == before["pm"]
    assert [r[0] for r in rewrap_rows(session)] == ["desk1"]
    session.lock()


def test_the_recovery_key_rewraps_nothing(register_dir, monkeypatch):
    from gp_optout_desktop.services import setup

    monkeypatch.setattr(keyfile, "KDF_DEFAULTS", dict(OLD_KDF))
    session, recovery = setup.create_register(register_dir, ods="F84003", practice=setup.practice_details(
        name="Test Surgery"), user="pm", password="pm-password-1")
    session.lock()
    monkeypatch.setattr(keyfile, "KDF_DEFAULTS", dict(FAST_KDF))
    monkeypatch.setattr(keyfile, "SUPERSEDED_KDFS", (dict(OLD_KDF),))
    before = entries(register_dir)
    session = session_service.unlock_with_recovery(register_dir, "pm", recovery)
    assert entries(register_dir)["pm"] == before["pm"] and rewrap_rows(session) == []
    session.lock()


def test_parameters_a_practice_chose_are_not_rewrapped(old_register, monkeypatch):
    monkeypatch.setattr(keyfile, "SUPERSEDED_KDFS", ({"alg": "argon2id", "t": 3, "m_kib": 16384, "p": 1},))
    before = entries(old_register)
    session = session_service.unlock(old_register, "pm", "pm-password-1")
    assert entries(old_register)["pm"] == before["pm"] and rewrap_rows(session) == []
    session.lock()


def test_a_tampered_old_entry_is_refused_and_not_rewrapped(old_register):
    path = old_register / "register.keys"
    data = json.loads(path.read_text())
    wrapped = bytearray(keyfile._unb64(data["users"]["pm"]["wrapped"]))
    wrapped[3] ^= 0x01
    data["users"]["pm"]["wrapped"] = keyfile._b64(bytes(wrapped))
    path.write_text(json.dumps(data))
    with pytest.raises(KeyDamaged):
        session_service.unlock(old_register, "pm", "pm-password-1")
    assert entries(old_register)["pm"]["kdf"] == OLD_KDF
    assert entries(old_register)["pm"]["wrapped"] == data["users"]["pm"]["wrapped"]


def test_a_tampered_key_file_is_still_refused_and_left_as_it_is(old_register):
    from gp_optout_desktop.store.errors import StoreError

    path = old_register / "register.keys"
    data = json.loads(path.read_text())
    data["users"]["pm"]["kdf"]["t"] = 100000  # would run Argon2 for hours: refused before it runs
    path.write_text(json.dumps(data))
    before = path.read_bytes()
    with pytest.raises(StoreError, match="damaged"):
        session_service.unlock(old_register, "pm", "pm-password-1")
    assert path.read_bytes() == before


def test_a_new_entry_relabelled_with_old_parameters_is_refused(old_register):
    """Editing the parameters in the key file cannot make anyone's password open an entry."""
    session_service.unlock(old_register, "pm", "pm-password-1").lock()
    path = old_register / "register.keys"
    data = json.loads(path.read_text())
    data["users"]["pm"]["kdf"] = dict(OLD_KDF)  # claims the superseded parameters: a different KEK
    path.write_text(json.dumps(data))
    with pytest.raises(WrongPassword):
        session_service.unlock(old_register, "pm", "pm-password-1")
    assert entries(old_register)["pm"]["kdf"] == OLD_KDF and entries(old_register)["pm"]["salt"] == \
        data["users"]["pm"]["salt"]


def test_a_slot_changed_in_another_window_is_not_overwritten(old_register):
    """The password changed elsewhere between this unlock's Argon2 run and its write: the
    newer entry stays, and this unlock still succeeds."""
    from gp_optout_desktop.store import register as register_store

    reg, failures = register_store.unlock(old_register, "pm", "pm-password-1", rewrap=True)
    assert reg.rewrap is not None
    elsewhere = session_service.unlock(old_register, "desk1", "desk1-password")
    elsewhere.register.keys.update(lambda keys: keys.wrap("pm", "pm-password-2", reg.data_key))
    elsewhere.lock()
    changed = entries(old_register)["pm"]
    session = session_service._start(reg, "pm", failures, "password")
    session_service._take_up_rewrap(session)
    assert entries(old_register)["pm"] == changed
    assert [r[0] for r in rewrap_rows(session)] == ["desk1"], "desk1's own unlock only; none for pm"
    session.lock()


# A crash: the unlocking process is killed (os._exit: no clean-up runs) at a point in the re-wrap.
_CRASH = r"""
import os, sys
from gp_optout_desktop.store import atomic, keyfile
from gp_optout_desktop.services import session
keyfile.KDF_DEFAULTS = {FAST}
keyfile.SUPERSEDED_KDFS = ({OLD},)
folder, point = sys.argv[1], sys.argv[2]
rewrapping = []
real_apply, real_replace = keyfile.Rewrap.apply, os.replace
def apply(self, fresh):
    rewrapping.append(1)
    return real_apply(self, fresh)
def replace(src, dst):
    if rewrapping and str(dst).endswith("register.keys"):
        if point == "before-rename":
            os._exit(9)
        real_replace(src, dst)
        os._exit(9)  # after-rename: the new entry is in place, its audit row not committed
    return real_replace(src, dst)
keyfile.Rewrap.apply = apply
atomic.os.replace = replace
session.unlock(folder, "pm", "pm-password-1")
os._exit(0)
"""


@pytest.mark.parametrize("point", ["before-rename", "after-rename"])
def test_a_crash_mid_rewrap_leaves_a_slot_that_unlocks(old_register, point):
    before = entries(old_register)
    code = _CRASH.replace("{FAST}", repr(FAST_KDF)).replace("{OLD}", repr(OLD_KDF))
    done = subprocess.run([sys.executable, "-c", code, str(old_register), point], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True)
    assert done.returncode == 9, done.stderr
    on_disk = entries(old_register)["pm"]
    if point == "before-rename":
        assert on_disk == before["pm"]  # the old entry, whole
        assert list(old_register.glob(".register.keys.*.tmp")), "the killed writer's temp file is left"
    else:
        assert on_disk["kdf"] == FAST_KDF and on_disk["salt"] != before["pm"]["salt"]
    session = session_service.unlock(old_register, "pm", "pm-password-1")
    assert entries(old_register)["pm"]["kdf"] == FAST_KDF
    # Re-wrapped (and audited) by this unlock when the crash came before the new entry was in place.
    assert len(rewrap_rows(session)) == (1 if point == "before-rename" else 0)
    assert audit.verify(session).ok
    session.lock()
    assert not list(old_register.glob(".register.keys.*.tmp")), "the leftover temp file is cleared under the lock"


def test_the_real_superseded_parameters_are_rewrapped_to_the_real_defaults(tmp_path, monkeypatch):
    """Production parameters (the fixture's cheap ones put aside): a 192 MiB entry becomes a
    6-lane 128 MiB one that opens with the same password to the same data key."""
    from tests.conftest import PRODUCTION_KDF

    monkeypatch.setattr(keyfile, "KDF_DEFAULTS", dict(PRODUCTION_KDF))
    old = keyfile.SUPERSEDED_KDFS[0]
    assert old["m_kib"] == 192 * 1024 and PRODUCTION_KDF["m_kib"] == 128 * 1024 and PRODUCTION_KDF["p"] == 6
    assert PRODUCTION_KDF["t"] * PRODUCTION_KDF["m_kib"] >= old["t"] * old["m_kib"], "memory x passes kept"
    keys = keyfile.KeyFile.create(tmp_path / "register.keys", keyfile.new_register_id())
    data_key = keyfile.new_data_key()
    keys.wrap("pm", "pm-password-1", data_key, kdf=old, extra={"audit": b"a" * 32})
    slot = keys.try_open("pm", "pm-password-1")
    prepared = keyfile.prepare_rewrap(slot, "pm-password-1")
    assert prepared.entry["kdf"] == PRODUCTION_KDF
    keys.save()
    keys.update(prepared.apply)
    reopened = keyfile.KeyFile.load(keys.path).try_open("pm", "pm-password-1")
    assert reopened.data_key == data_key and reopened.get("audit") == b"a" * 32
    assert keyfile.prepare_rewrap(reopened, "pm-password-1") is None


def test_a_register_upgraded_at_the_same_unlock_keeps_the_keys_the_upgrade_made(tmp_path, monkeypatch):
    """A register from before the key hierarchy (schema 3), its entries wrapped with the then
    defaults, now superseded: the manager's first unlock upgrades it (an audit key and the
    manager key wrapped into their slot) and would re-wrap the same slot. The re-wrap was
    made before the upgrade, so it must not replace the slot the upgrade just filled: the
    manager unlocks again afterwards, with both keys, and the slot is re-wrapped then."""
    import shutil

    folder = tmp_path / "register"
    shutil.copytree(REPO / "tests" / "fixtures" / "register-v3", folder)
    v3_kdf = entries(folder)["manager"]["kdf"]
    current = {"alg": "argon2id", "t": 1, "m_kib": 8, "p": 1}  # not v3_kdf, whichever test set is chosen
    monkeypatch.setattr(keyfile, "KDF_DEFAULTS", dict(current))
    monkeypatch.setattr(keyfile, "SUPERSEDED_KDFS", (dict(v3_kdf),))
    first = session_service.unlock(folder, "manager", "manager-demo-pass")
    assert set(entries(folder)["manager"]["secrets"]) == {"audit", "manager"}
    assert audit.verify(first).ok
    first.lock()
    again = session_service.unlock(folder, "manager", "manager-demo-pass")
    assert again.register.manager_key is not None and audit.verify(again).ok
    assert entries(folder)["manager"]["kdf"] == current
    assert set(entries(folder)["manager"]["secrets"]) == {"audit", "manager"}
    users.add(again, "desk9", "receptionist", "desk9-password")  # the manager key works
    again.lock()


def test_the_windows_later_rewrap_of_a_register_upgraded_at_its_unlock_keeps_the_upgrades_keys(tmp_path, monkeypatch):
    """As above, with the window's unlock: the re-wrap is made after the unlock (and its upgrade),
    so the new entry must carry the audit and manager keys the upgrade wrapped into the slot."""
    import shutil

    folder = tmp_path / "register"
    shutil.copytree(REPO / "tests" / "fixtures" / "register-v3", folder)
    v3_kdf = entries(folder)["manager"]["kdf"]
    current = {"alg": "argon2id", "t": 1, "m_kib": 8, "p": 1}
    monkeypatch.setattr(keyfile, "KDF_DEFAULTS", dict(current))
    monkeypatch.setattr(keyfile, "SUPERSEDED_KDFS", (dict(v3_kdf),))
    first = session_service.unlock_for_window(folder, "manager", "manager-demo-pass")
    session_service.rewrap_pending(first)
    assert entries(folder)["manager"]["kdf"] == current
    assert set(entries(folder)["manager"]["secrets"]) == {"audit", "manager"}
    assert [r[0] for r in rewrap_rows(first)] == ["manager"] and audit.verify(first).ok
    first.lock()
    again = session_service.unlock_for_window(folder, "manager", "manager-demo-pass")
    assert again.register.manager_key is not None and audit.verify(again).ok
    assert again.register.rewrap_later is None
    users.add(again, "desk9", "receptionist", "desk9-password")  # the manager key came across
    again.lock()
