"""The key hierarchy's key-file fields (slot secrets, manager key, heads) under the
cross-process lock: every write re-reads the file, so no window undoes another's change to
them either (issue 11: the key hierarchy and the locked key file together)."""

from __future__ import annotations

import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.services import session as session_service, users
from gp_optout_desktop.store import certs, keyfile, keyschema
from gp_optout_desktop.store.errors import StoreError, WrongPassword


def _on_disk(register_dir) -> keyfile.KeyFile:
    return keyfile.KeyFile.load(register_dir / "register.keys")


def test_a_window_closing_keeps_the_audit_key_of_a_user_added_in_another(manager, register_dir):
    other = session_service.unlock(register_dir, "pm", "pm-password-1")  # loaded before desk1 existed
    users.add(manager, "desk1", "receptionist", "desk1-password")
    manager.lock()
    other.lock()  # last, with its copy from before desk1: the audit head goes through update(), desk1's slot stays
    assert _on_disk(register_dir).has_secret("desk1", certs.AUDIT_SECRET)
    desk = session_service.unlock(register_dir, "desk1", "desk1-password")  # needs the certified audit key
    try:
        assert desk.register.audit_seed is not None and desk.register.manager_key is None
    finally:
        desk.lock()


def test_a_manager_key_given_in_one_window_survives_another_closing(manager, register_dir):
    users.add(manager, "desk1", "receptionist", "desk1-password")
    other = session_service.unlock(register_dir, "pm", "pm-password-1")
    users.change_role(manager, "desk1", roles.MANAGER)
    temporary = users.reset_password(manager, "desk1").data["password"]
    manager.lock()
    other.lock()  # last, with its copy from before the reset
    assert _on_disk(register_dir).has_secret("desk1", certs.MANAGER_SECRET)
    promoted = session_service.unlock(register_dir, "desk1", temporary)
    try:
        assert promoted.register.manager_key is not None
    finally:
        promoted.lock()


def test_heads_recorded_by_windows_closing_in_either_order_verify(manager, register_dir):
    other = session_service.unlock(register_dir, "pm", "pm-password-1")
    users.add(other, "desk1", "receptionist", "desk1-password")
    users.add(manager, "desk2", "receptionist", "desk2-password")
    manager.lock()
    other.lock()
    data = _on_disk(register_dir).data
    session = session_service.unlock(register_dir, "pm", "pm-password-1")
    try:
        with session.register.reading() as conn:
            last = conn.execute("SELECT MAX(seq) FROM audit").fetchone()[0]
        # The later of the two windows' heads (the unlock just now appended after it).
        assert data["audit_head"]["seq"] == data["manager_head"]["seq"] < last
        result = session.register.verify_audit()
        assert result.ok, result.problems
    finally:
        session.lock()


def test_a_secret_is_not_put_into_a_slot_re_wrapped_in_another_window(manager, register_dir):
    manager.lock()
    mine = _on_disk(register_dir)
    slot = mine.unlock_slot("pm", "pm-password-1")
    elsewhere = _on_disk(register_dir)
    data_key = slot.data_key
    elsewhere.update(lambda keys: keys.wrap("pm", "pm-password-2", data_key))  # a password changed there
    before = (register_dir / "register.keys").read_bytes()
    with pytest.raises(StoreError, match="changed in another window"):
        mine.update(lambda fresh: slot.on(fresh).put(certs.AUDIT_SECRET, b"\1" * 32))
    assert (register_dir / "register.keys").read_bytes() == before
    assert _on_disk(register_dir).try_unwrap("pm", "pm-password-2") == data_key


def test_a_rekey_keeps_failed_unlocks_recorded_in_another_window_meanwhile(manager, register_dir):
    with pytest.raises(WrongPassword):
        session_service.unlock(register_dir, "pm", "a-wrong-guess")  # after this window loaded the key file
    users.rekey(manager, "pm-password-1")
    failed = _on_disk(register_dir).data.get("failed_unlocks") or []
    assert [f["user"] for f in failed] == ["pm"]
    manager.lock()


def test_only_the_restore_attempts_file_may_carry_its_own_id_and_no_slots():
    attempts = {"format": keyfile.FORMAT, "register_id": keyschema.ATTEMPTS_ID, "users": {}, "throttle": {}}
    assert keyschema.check(attempts, keyschema.ATTEMPTS_NAME) is attempts
    with pytest.raises(keyschema.KeyFileInvalid, match="register_id"):
        keyschema.check(attempts, "register.keys")
    with_slot = keyfile.KeyFile.create("x.keys", "0" * 32)
    with_slot.wrap("pm", "pm-password-1", keyfile.new_data_key())
    forged = {**attempts, "users": with_slot.data["users"]}
    with pytest.raises(keyschema.KeyFileInvalid, match="register_id"):
        keyschema.check(forged, keyschema.ATTEMPTS_NAME)


def test_restore_needs_a_certified_manager_of_the_live_register(manager, register_dir, tmp_path):
    """Under the key hierarchy the right to replace the live register comes from its certified
    records: a receptionist's own password does not give it, nor does a role raised by hand."""
    from gp_optout_desktop.domain.roles import PermissionDenied
    from gp_optout_desktop.services import backup
    from gp_optout_desktop.services.backup import ConfirmationNeeded
    from tests.store.insider import Insider

    users.add(manager, "desk1", "receptionist", "desk1-password")
    backup.backup(manager, tmp_path / "b.gpob")
    manager.lock()
    with pytest.raises(PermissionDenied):
        backup.restore(register_dir, tmp_path / "b.gpob", "desk1", "desk1-password")
    insider = Insider(register_dir, "desk1", "desk1-password")
    insider.sql("UPDATE users SET role = 'manager' WHERE name = ?", "desk1")
    insider.close()
    with pytest.raises(ConfirmationNeeded, match="certificate") as refused:
        backup.restore(register_dir, tmp_path / "b.gpob", "desk1", "desk1-password")
    assert refused.value.kind == "unreadable"
    with pytest.raises(StoreError, match="Only a practice manager"):  # the backup's records say receptionist
        backup.restore(register_dir, tmp_path / "b.gpob", "desk1", "desk1-password", replace_unreadable=True)
    assert not list(register_dir.glob("before-restore-*"))  # nothing was replaced
    live = session_service.unlock(register_dir, "pm", "pm-password-1")
    try:  # still the live register: it holds the audited refusal, which the backup does not
        with live.register.reading() as conn:
            denied = conn.execute("SELECT count(*) FROM audit WHERE action = 'denied.restore' AND user = 'desk1'")
            assert denied.fetchone()[0] == 1
    finally:
        live.lock()


def test_two_windows_upgrading_a_register_at_once_keep_one_manager_key(tmp_path, monkeypatch):
    """Both windows look before either upgrades (schema 4, docs/adr/0006); the second's write
    must not replace the first's manager key (the key file is now merged, not overwritten,
    so without the check both keys would end up in use)."""
    import shutil
    from pathlib import Path

    from gp_optout_desktop.store import register as register_store

    folder = tmp_path / "register"
    shutil.copytree(Path(__file__).resolve().parents[1] / "fixtures" / "register-v3", folder)
    original = register_store._upgrade
    calls = []

    def first_another_window_upgrades(reg, slot, user, role, *, recovery):
        calls.append(user)
        if len(calls) == 1:  # this window has looked; another window now unlocks and upgrades in full
            session_service.unlock(folder, "manager", "manager-demo-pass").lock()
        return original(reg, slot, user, role, recovery=recovery)

    monkeypatch.setattr(register_store, "_upgrade", first_another_window_upgrades)
    with pytest.raises(StoreError, match="upgraded this register just now"):
        session_service.unlock(folder, "manager", "manager-demo-pass")
    assert len(calls) == 2
    monkeypatch.setattr(register_store, "_upgrade", original)
    session = session_service.unlock(folder, "manager", "manager-demo-pass")
    try:
        assert not session.register.upgraded
        assert _on_disk(folder).data["manager_pub"] == certs.manager_public_hex(session.register.manager_key)
        result = session.register.verify_audit()
        assert result.ok, result.problems
    finally:
        session.lock()
