"""Finding 7 of issue 11: a key file that is valid JSON with wrong contents gives the store's
error (CLI exit 4, one clear line), never a traceback or a hang; a damaged wrapped key is
reported as damage, not as a wrong password, and is not counted by the throttle."""

from __future__ import annotations

import base64
import json
import time

import pytest

from gp_optout_desktop import cli
from gp_optout_desktop.services import session as session_service
from gp_optout_desktop.store import keyfile, keyschema
from gp_optout_desktop.store.errors import KeyDamaged, StoreError, WrongPassword


def _edit(register_dir, change):
    path = register_dir / "register.keys"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _pm(data):
    return data["users"]["pm"]


MALFORMED = {
    "bad base64 salt": lambda d: _pm(d).update(salt="***not base64***"),
    "bad base64 wrapped": lambda d: _pm(d).update(wrapped="QUJD!"),
    "wrapped of the wrong length": lambda d: _pm(d).update(wrapped=base64.b64encode(b"x" * 20).decode()),
    "nonce a number": lambda d: _pm(d).update(nonce=12),
    "salt missing": lambda d: _pm(d).pop("salt"),
    "kdf a list": lambda d: _pm(d).update(kdf=["argon2id", 1]),
    "kdf t a string": lambda d: _pm(d)["kdf"].update(t="4"),
    "kdf t huge (would hang)": lambda d: _pm(d)["kdf"].update(t=100000),
    "kdf m 64 GiB": lambda d: _pm(d)["kdf"].update(m_kib=64 * 1024 * 1024),
    "kdf p zero": lambda d: _pm(d)["kdf"].update(p=0),
    "kdf unknown": lambda d: _pm(d)["kdf"].update(alg="scrypt"),
    "users a list": lambda d: d.update(users=[d["users"]]),
    "a user entry a list": lambda d: d["users"].update(pm=[1, 2]),
    "throttle a list": lambda d: d.update(throttle=[]),
    "throttle failures text": lambda d: d.update(throttle={"pm": {"failures": "5"}}),
    "throttle retry_at garbage": lambda d: d.update(throttle={"pm": {"failures": 9, "retry_at": "soon"}}),
    "audit head a string": lambda d: d.update(audit_head="3:abc"),
    "audit head seq text": lambda d: d.update(audit_head={"seq": "3", "mac": "0" * 64}),
    "failed unlocks objects": lambda d: d.update(failed_unlocks={"user": "x"}),
    "register id missing": lambda d: d.pop("register_id"),
    "top level a list": None,
    "secrets a list": lambda d: _pm(d).update(secrets=[]),
    "a secret with a short nonce": lambda d: _pm(d)["secrets"]["audit"].update(nonce="AAAA"),
    "must_change a string": lambda d: _pm(d).update(must_change="yes"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_each_malformed_key_file_gives_exit_4_and_a_clear_message(manager, register_dir, monkeypatch, capsys, case):
    manager.lock()
    if MALFORMED[case] is None:
        (register_dir / "register.keys").write_text("[1, 2, 3]")
    else:
        _edit(register_dir, MALFORMED[case])
    before = (register_dir / "register.keys").read_bytes()
    monkeypatch.setenv("GP_OPTOUT_REGISTER", str(register_dir))
    monkeypatch.setenv("GP_OPTOUT_PASSWORD", "pm-password-1")
    started = time.perf_counter()
    code = cli.main(["--user", "pm", "status", "--nhs", "9990000018"])
    elapsed = time.perf_counter() - started
    err = capsys.readouterr().err
    assert code == 4, err
    assert err.startswith("gp-optout: ") and "Traceback" not in err and err.count("\n") == 1
    assert "register.keys" in err or "key file" in err
    assert elapsed < 5  # refused before any Argon2 run with the hostile parameters
    assert (register_dir / "register.keys").read_bytes() == before  # nothing changed


def test_kdf_bounds_are_checked_before_argon2_runs():
    started = time.perf_counter()
    with pytest.raises(StoreError, match="outside"):
        keyfile.derive_kek("x", b"s" * 16, {"alg": "argon2id", "t": 100000, "m_kib": 8192, "p": 1})
    assert time.perf_counter() - started < 0.5
    keyschema.check_kdf("k", "kdf", dict(keyfile.KDF_DEFAULTS))  # the production parameters pass


def test_a_damaged_wrapped_key_is_reported_as_damage_and_not_throttled(manager, register_dir):
    manager.lock()

    def flip(d):
        raw = bytearray(base64.b64decode(_pm(d)["wrapped"]))
        raw[5] ^= 0x01
        _pm(d)["wrapped"] = base64.b64encode(bytes(raw)).decode()

    _edit(register_dir, flip)
    for _ in range(keyfile.FREE_FAILURES + 2):
        with pytest.raises(KeyDamaged, match="damaged: the password is right"):
            session_service.unlock(register_dir, "pm", "pm-password-1")
    keys = keyfile.KeyFile.load(register_dir / "register.keys")
    assert keys.throttle_state("pm")["failures"] == 0 and keys.retry_at("pm") is None
    with pytest.raises(WrongPassword):  # a wrong password is still a wrong password, and counted
        session_service.unlock(register_dir, "pm", "not-the-password")
    assert keyfile.KeyFile.load(register_dir / "register.keys").throttle_state("pm")["failures"] == 1


def test_a_damaged_wrapped_key_gives_exit_4_through_the_cli(manager, register_dir, monkeypatch, capsys):
    manager.lock()

    def flip(d):
        raw = bytearray(base64.b64decode(_pm(d)["wrapped"]))
        raw[-1] ^= 0x80
        _pm(d)["wrapped"] = base64.b64encode(bytes(raw)).decode()

    _edit(register_dir, flip)
    monkeypatch.setenv("GP_OPTOUT_REGISTER", str(register_dir))
    monkeypatch.setenv("GP_OPTOUT_PASSWORD", "pm-password-1")
    assert cli.main(["--user", "pm", "status", "--nhs", "9990000018"]) == 4
    assert "damaged" in capsys.readouterr().err
