"""The desktop app's unlock opens the window first and wraps a key entry with earlier Argon2id
parameters again afterwards, on a worker: its second Argon2id run is off the unlock's critical
path (issue 13), and the new entry is written and audited as before (tests/store/test_key_rewrap.py)."""

from __future__ import annotations

import json

from gp_optout_desktop.services import setup
from gp_optout_desktop.store import keyfile
from tests.conftest import FAST_KDF

OLD_KDF = {"alg": "argon2id", "t": 2, "m_kib": 16384, "p": 1}


def _pm_kdf(folder):
    return json.loads((folder / "register.keys").read_text())["users"]["pm"]["kdf"]


def test_the_window_is_shown_before_the_rewrap_which_follows_audited(qtbot, register_dir, monkeypatch, new_window,
                                                                     unlock_as):
    monkeypatch.setattr(keyfile, "KDF_DEFAULTS", dict(OLD_KDF))
    session, _recovery = setup.create_register(register_dir, ods="F84003", practice=setup.practice_details(
        name="Test Surgery"), user="pm", password="pm-password-1")
    session.lock()
    monkeypatch.setattr(keyfile, "KDF_DEFAULTS", dict(FAST_KDF))
    monkeypatch.setattr(keyfile, "SUPERSEDED_KDFS", (dict(OLD_KDF),))
    window = new_window(register_dir)
    at_unlocked = []
    window.bus.unlocked.connect(lambda _session: at_unlocked.append(_pm_kdf(register_dir)))
    session = unlock_as(window, "pm", "pm-password-1")
    assert at_unlocked == [OLD_KDF], "the window was shown before the entry was re-wrapped"
    qtbot.waitUntil(lambda: _pm_kdf(register_dir) == FAST_KDF, timeout=10000)
    with session.register.reading() as conn:
        rows = conn.execute("SELECT user, detail FROM audit WHERE action = 'user.key_rewrapped'").fetchall()
    assert rows == [("pm", f"kdf t=2 m=16MiB p=1 -> {keyfile.kdf_words(FAST_KDF)}")]
