"""The mutation run's cheap Argon2 parameters (GP_OPTOUT_TEST_KDF=floor, set only by
scripts/mutation.py) are a test-only choice: the app never reads the variable, so a register
made by the app with it set still gets the production parameters."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import PRODUCTION_KDF, TEST_KDF_SETS

ROOT = Path(__file__).resolve().parents[2]


def test_the_app_keeps_its_own_argon2_parameters_with_the_test_switch_set(tmp_path):
    """A fresh interpreter (no pytest, no conftest) with the switch set: the app's key
    derivation, and the key file of a register it creates, use the production parameters."""
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from gp_optout_desktop.store import keyfile\n"
        "kf = keyfile.KeyFile.create(Path(sys.argv[1]), 'register-1')\n"
        "kf.wrap('pm', 'a-password-1', bytes(32))\n"
        "print(json.dumps([keyfile.KDF_DEFAULTS, kf.data['users']['pm']['kdf']]))\n"
    )
    env = dict(os.environ, GP_OPTOUT_TEST_KDF="floor")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "register.keys")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    defaults, written = json.loads(out)
    assert defaults == written == PRODUCTION_KDF
    assert PRODUCTION_KDF["m_kib"] >= 64 * 1024 and PRODUCTION_KDF["t"] >= 2


def test_no_app_or_release_code_reads_the_test_switch():
    readers = [p for p in (ROOT / "gp_optout_desktop").rglob("*.py") if "GP_OPTOUT_TEST_KDF" in p.read_text()]
    assert readers == []


def test_the_floor_is_real_argon2id_within_the_key_files_own_bounds():
    from gp_optout_desktop.store import keyschema

    floor = TEST_KDF_SETS["floor"]
    assert floor["alg"] == "argon2id"
    keyschema.check_kdf("test", "kdf", dict(floor))   # an open of a key file written with it passes


def test_an_unknown_choice_stops_the_test_run_before_any_test():
    env = dict(os.environ, GP_OPTOUT_TEST_KDF="none")
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q",
                          "tests/mutation/test_mutation_kdf.py"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode != 0
    assert "GP_OPTOUT_TEST_KDF must be one of" in run.stdout + run.stderr
