"""users.change_password on the register file: a signed-in user's own change of their own
accord. The current password is asked for again; wrong tries are throttled and counted with
the failed unlocks (one key-file count: five wrong here and even the unlock waits), and
change nothing."""

from __future__ import annotations

import json

import pytest

from gp_optout_desktop.services import session as session_service, users
from gp_optout_desktop.store.errors import Throttled, WrongPassword


def _entry(register_dir) -> dict:
    return json.loads((register_dir / "register.keys").read_text(encoding="utf-8"))["users"]["pm"]


def test_wrong_current_passwords_are_throttled_with_the_unlocks_and_change_nothing(manager, register_dir):
    entry = _entry(register_dir)
    for _ in range(5):
        with pytest.raises(WrongPassword, match="^Your current password is wrong. Nothing was changed.$"):
            users.change_password(manager, "not-my-password", "pm-password-2")
    with pytest.raises(Throttled, match="^Too many wrong passwords. The next try is allowed at "):
        users.change_password(manager, "pm-password-1", "pm-password-2")  # even the right one waits now
    assert _entry(register_dir) == entry  # the key slot is as it was
    manager.lock()
    with pytest.raises(Throttled):  # the same count as the unlock's
        session_service.unlock(register_dir, "pm", "pm-password-1")


def test_a_right_current_password_clears_the_wrong_tries_before_it(manager, register_dir):
    """Four wrong tries, then the right one: the count starts again, so four more wrong tries
    still leave the next right one allowed (not throttled)."""
    for old, new in (("pm-password-1", "pm-password-2"), ("pm-password-2", "pm-password-3")):
        for _ in range(4):
            with pytest.raises(WrongPassword):
                users.change_password(manager, "not-my-password", new)
        users.change_password(manager, old, new)
    manager.lock()
    session_service.unlock(register_dir, "pm", "pm-password-3").lock()
