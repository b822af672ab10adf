"""Per-user keys, wrong passwords, the throttle that survives a restart, the recovery key."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from gp_optout_desktop.services import session as session_service, users
from gp_optout_desktop.store import keyfile
from gp_optout_desktop.store.errors import StoreError, Throttled, WrongPassword
from tests.conftest import PRODUCTION_KDF


def test_production_kdf_is_argon2id_with_memory_hardness():
    assert PRODUCTION_KDF["alg"] == "argon2id"
    assert PRODUCTION_KDF["m_kib"] >= 64 * 1024 and PRODUCTION_KDF["t"] >= 2


def test_each_user_unlocks_with_their_own_password_only(manager, register_dir):
    users.add(manager, "desk1", "receptionist", "desk1-password")
    manager.lock()
    assert session_service.unlock(register_dir, "desk1", "desk1-password").role == "receptionist"
    with pytest.raises(WrongPassword):
        session_service.unlock(register_dir, "desk1", "pm-password-1")  # another user's password
    with pytest.raises(WrongPassword, match="user name or password"):
        session_service.unlock(register_dir, "nobody", "pm-password-1")


def test_wrapped_keys_cannot_be_swapped_between_users(manager, register_dir):
    users.add(manager, "desk1", "receptionist", "desk1-password")
    manager.lock()
    path = register_dir / "register.keys"
    data = json.loads(path.read_text())
    data["users"]["pm"] = data["users"]["desk1"]  # desk1's entry under pm's name
    path.write_text(json.dumps(data))
    with pytest.raises(WrongPassword):
        session_service.unlock(register_dir, "pm", "desk1-password")


def test_throttle_after_five_failures_doubles_and_survives_a_restart(manager, register_dir):
    manager.lock()
    for _ in range(5):
        with pytest.raises(WrongPassword):
            session_service.unlock(register_dir, "pm", "wrong-password")
    # A new process reads the same key file: the throttle is still there, even for the right password.
    with pytest.raises(Throttled) as err:
        session_service.unlock(register_dir, "pm", "pm-password-1")
    assert "next try is allowed at" in str(err.value)
    first_wait = err.value.retry_at - datetime.now(timezone.utc)
    assert timedelta(seconds=20) < first_wait <= timedelta(seconds=30)

    keys = keyfile.KeyFile.load(register_dir / "register.keys")
    later = err.value.retry_at + timedelta(seconds=1)
    with pytest.raises(WrongPassword):
        keys.unlock("pm", "still-wrong", now=later)
    assert keys.retry_at("pm") - later == timedelta(seconds=60)  # doubled
    for _ in range(10):
        now = keys.retry_at("pm") + timedelta(seconds=1)
        with pytest.raises(WrongPassword):
            keys.unlock("pm", "still-wrong", now=now)
    assert keys.retry_at("pm") - now == timedelta(minutes=15)  # capped


def test_failed_unlocks_reach_the_audit_trail_at_the_next_success(manager, register_dir):
    manager.lock()
    with pytest.raises(WrongPassword):
        session_service.unlock(register_dir, "pm", "wrong-password")
    session = session_service.unlock(register_dir, "pm", "pm-password-1")
    from gp_optout_desktop.services import audit

    rows = audit.query(session, action="login")
    assert [(r.user, r.outcome) for r in rows][:2] == [("pm", "ok"), ("pm", "failed")]
    session.lock()


def test_recovery_key_unlocks_as_a_manager(register_dir):
    from gp_optout_desktop.services import setup

    session, recovery = setup.create_register(register_dir, ods="F84003", practice=setup.practice_details(name="S"),
                                              user="pm", password="pm-password-1")
    session.lock()
    assert session_service.unlock_with_recovery(register_dir, "pm", recovery.lower().replace("-", " ")).role == "manager"
    with pytest.raises(WrongPassword):
        session_service.unlock_with_recovery(register_dir, "pm", "AAAA-BBBB")


def test_removed_user_loses_their_key(manager, register_dir):
    users.add(manager, "desk1", "receptionist", "desk1-password")
    users.remove(manager, "desk1")
    assert "desk1" not in json.loads((register_dir / "register.keys").read_text())["users"]
    manager.lock()
    with pytest.raises(WrongPassword):
        session_service.unlock(register_dir, "desk1", "desk1-password")


def test_reset_password_forces_a_change_at_next_unlock(manager, register_dir):
    users.add(manager, "desk1", "receptionist", "desk1-password")
    temporary = users.reset_password(manager, "desk1").data["password"]
    manager.lock()
    session = session_service.unlock(register_dir, "desk1", temporary)
    assert session.must_change_password
    users.change_own_password(session, "a-new-password")
    session.lock()
    assert not session_service.unlock(register_dir, "desk1", "a-new-password").must_change_password


def test_missing_key_file_is_a_clear_error(manager, register_dir):
    manager.lock()
    (register_dir / "register.keys").unlink()
    with pytest.raises(StoreError, match="key file .* is missing"):
        session_service.unlock(register_dir, "pm", "pm-password-1")


def test_rekey_replaces_every_key_and_keeps_the_data(manager, register_dir, add_patient):
    from gp_optout_desktop.services import audit, patients
    from gp_optout_desktop.store import register as register_store

    pid = add_patient(manager, surname="Kept")
    users.add(manager, "desk1", "receptionist", "desk1-password")
    old_keys = (register_dir / "register.keys").read_bytes()
    change = users.rekey(manager, "pm-password-1")
    manager.lock()
    # The old key file beside the re-keyed database no longer opens it.
    stale = register_dir.parent / "stale"
    stale.mkdir()
    (stale / "register.db").write_bytes((register_dir / "register.db").read_bytes())
    (stale / "register.keys").write_bytes(old_keys)
    with pytest.raises(StoreError, match="damaged or has been tampered"):
        register_store.unlock(stale, "pm", "pm-password-1")
    session = session_service.unlock(register_dir, "desk1", change.data["passwords"]["desk1"])
    assert session.must_change_password and patients.view(session, pid).patient.surname == "Kept"
    session.lock()
    pm = session_service.unlock(register_dir, "pm", "pm-password-1")
    assert audit.verify(pm).ok, "the audit chain survives a re-key"
    pm.lock()
    assert session_service.unlock_with_recovery(register_dir, "pm", change.data["recovery_key"]).role == "manager"


def test_an_interrupted_rekey_is_finished_at_next_unlock(manager, register_dir, monkeypatch):
    import os as os_module

    from gp_optout_desktop.store import register as register_store

    real_replace = os_module.replace

    def crash_on_key_swap(src, dst):
        if str(src).endswith("register.keys.next"):
            raise OSError("power cut")
        return real_replace(src, dst)

    monkeypatch.setattr(register_store.os, "replace", crash_on_key_swap)
    with pytest.raises(OSError):
        users.rekey(manager, "pm-password-1")
    monkeypatch.setattr(register_store.os, "replace", real_replace)
    manager.register.db.close()
    assert (register_dir / "register.keys.next").exists()
    assert session_service.unlock(register_dir, "pm", "pm-password-1").role == "manager"
    assert not (register_dir / "register.keys.next").exists()
