"""Argon2id in a short-lived process of its own (store.keyfile.derive_kek through child_task,
ADR 0001 addendum, hazard H-81), through a real encrypted register: the app's process never
holds Argon2's memory, a first unlock re-wraps an old entry in the same audited way, a wrong
password is refused in words, a child killed mid-derivation is said in words and changes
nothing, and a child that cannot be started falls back to deriving in the app."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gp_optout_desktop import child_task
from gp_optout_desktop.services import session as session_service, users
from gp_optout_desktop.store import keyfile
from gp_optout_desktop.store.errors import WrongPassword
from tests.conftest import FAST_KDF

REPO = Path(__file__).resolve().parents[2]
# Cheap in passes but big in memory, so the test can tell which process held it: an entry
# made by "the earlier version" (256 MiB, superseded) and the current defaults (192 MiB).
BIG_OLD = {"alg": "argon2id", "t": 1, "m_kib": 262144, "p": 1}
BIG_NEW = {"alg": "argon2id", "t": 1, "m_kib": 196608, "p": 1}
OLD_KDF = {"alg": "argon2id", "t": 2, "m_kib": 16384, "p": 1}


def _add_user(session, monkeypatch, name: str, kdf: dict) -> None:
    monkeypatch.setattr(keyfile, "KDF_DEFAULTS", dict(kdf))
    users.add(session, name, "receptionist", f"{name}-password")
    monkeypatch.setattr(keyfile, "KDF_DEFAULTS", dict(FAST_KDF))


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _rewrap_rows(session) -> list[tuple]:
    with session.register.reading() as conn:
        return conn.execute("SELECT user, detail FROM audit WHERE action = 'user.key_rewrapped'").fetchall()


_APP_UNLOCK = r"""
import json, resource, sys
from gp_optout_desktop import child_task
from gp_optout_desktop.services import session as session_service
from gp_optout_desktop.store import keyfile
folder, old, new = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
keyfile.KDF_DEFAULTS, keyfile.SUPERSEDED_KDFS = new, (old,)
child_task.enable()  # as the desktop app does (ui.responsive.tune)
session = session_service.unlock(folder, "desk1", "desk1-password")
with session.register.reading() as conn:
    rows = conn.execute("SELECT detail FROM audit WHERE action = 'user.key_rewrapped'").fetchall()
status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)
print(json.dumps({"hwm_mb": int(status["VmHWM"].split()[0]) / 1024,
                  "child_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                  "rewraps": [r[0] for r in rows], "kdf": session.register.keys.data["users"]["desk1"]["kdf"]}))
session.lock()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process's peak from /proc")
def test_the_apps_process_never_holds_argon2s_memory(manager, register_dir, monkeypatch):
    """A first unlock of an old entry: two Argon2id runs (256 MiB to open it, 192 MiB to wrap
    it again), both in children; the app's own peak stays below either run's memory."""
    _add_user(manager, monkeypatch, "desk1", BIG_OLD)
    manager.lock()
    out = subprocess.run([sys.executable, "-c", _APP_UNLOCK, str(register_dir), json.dumps(BIG_OLD),
                          json.dumps(BIG_NEW)], cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["kdf"] == BIG_NEW and got["rewraps"] == ["kdf t=1 m=256MiB p=1 -> t=1 m=192MiB p=1"]
    assert got["child_mb"] > 250, got  # the 256 MiB run happened, in a child
    assert got["hwm_mb"] < 150, got  # and not here: in the app it would be 256 MiB more than the app's own


def test_a_wrong_password_through_the_child_is_refused_and_rewraps_nothing(manager, register_dir, monkeypatch,
                                                                           apart):
    _add_user(manager, monkeypatch, "desk1", OLD_KDF)
    manager.lock()
    monkeypatch.setattr(keyfile, "SUPERSEDED_KDFS", (dict(OLD_KDF),))
    before = json.loads((register_dir / "register.keys").read_text())["users"]
    with pytest.raises(WrongPassword, match="The user name or password is wrong"):
        session_service.unlock(register_dir, "desk1", "not-the-password")
    assert json.loads((register_dir / "register.keys").read_text())["users"] == before

    session = session_service.unlock(register_dir, "desk1", "desk1-password")  # the right one, re-wrapped
    assert session.register.keys.data["users"]["desk1"]["kdf"] == FAST_KDF
    assert _rewrap_rows(session) == [("desk1", f"kdf t=2 m=16MiB p=1 -> {keyfile.kdf_words(FAST_KDF)}")]
    session.lock()


def test_a_child_killed_mid_derivation_is_said_in_words_and_nothing_is_written(manager, register_dir, monkeypatch,
                                                                              apart):
    _add_user(manager, monkeypatch, "desk1", {"alg": "argon2id", "t": 3, "m_kib": 65536, "p": 1})
    manager.lock()
    before = _files(register_dir)
    outcome = apart.killed_during(lambda: session_service.unlock(register_dir, "desk1", "desk1-password"))
    error = outcome.get("error")
    assert isinstance(error, child_task.ChildTaskFailed), outcome
    assert str(error).startswith("The password check stopped before it finished") and "Nothing was changed" in \
        str(error)
    assert _files(register_dir) == before  # no failed attempt counted, nothing re-wrapped, register not opened
    ran = keyfile.ARGON2_GATE.finished
    session_service.unlock(register_dir, "desk1", "desk1-password").lock()  # the next try unlocks,
    assert keyfile.ARGON2_GATE.finished >= ran + 2  # deriving in the app (the unlock's span and the run itself)


def test_a_rewrap_child_killed_leaves_the_old_entry_and_the_unlock_stands(manager, register_dir, monkeypatch,
                                                                          apart, caplog):
    _add_user(manager, monkeypatch, "desk1", OLD_KDF)
    manager.lock()
    monkeypatch.setattr(keyfile, "SUPERSEDED_KDFS", (dict(OLD_KDF),))
    outcome: dict = {}

    def unlock():
        outcome["session"] = session_service.unlock(register_dir, "desk1", "desk1-password")

    thread = threading.Thread(target=unlock)
    thread.start()
    first, deadline = None, time.monotonic() + 30
    while time.monotonic() < deadline:  # the second child is the re-wrap's derivation
        live = list(child_task._live)  # noqa: SLF001
        if first is None and live:
            first = live[0]
        second = [child for child in live if child is not first]
        if second:
            second[0].kill()
            break
        time.sleep(0.001)
    thread.join(30)
    session = outcome["session"]
    assert session.register.keys.data["users"]["desk1"]["kdf"] == OLD_KDF and _rewrap_rows(session) == []
    assert "was not re-wrapped" in caplog.text
    session.lock()
    again = session_service.unlock(register_dir, "desk1", "desk1-password")  # the next unlock re-wraps it
    assert again.register.keys.data["users"]["desk1"]["kdf"] == FAST_KDF and len(_rewrap_rows(again)) == 1
    again.lock()


def test_a_child_that_cannot_run_is_said_once_then_the_app_derives_under_the_gate(manager, register_dir, apart,
                                                                                 caplog):
    """A process that cannot run (here its executable is gone, as in a broken install): the
    first try says so in words and writes nothing; the next derives in the app and unlocks."""
    manager.lock()
    executable = multiprocessing.spawn.get_executable()
    multiprocessing.set_executable(str(register_dir / "no-such-python"))
    try:
        before = _files(register_dir)
        with pytest.raises(child_task.ChildTaskFailed, match="The password check stopped before it finished.*"
                           "Nothing was changed. Try again: the next try checks the password in the app itself"):
            session_service.unlock(register_dir, "pm", "pm-password-1")
        assert _files(register_dir) == before
        assert "checking in the app from now on" in caplog.text
        ran = keyfile.ARGON2_GATE.finished
        session = session_service.unlock(register_dir, "pm", "pm-password-1")
    finally:
        multiprocessing.set_executable(executable)
    assert keyfile.ARGON2_GATE.finished >= ran + 2  # the unlock's span and the derivation, here
    session.lock()
