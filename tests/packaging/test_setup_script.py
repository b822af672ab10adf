"""scripts/_setup.sh decides what is missing by library, not package name, and says it once.

Each case runs the real script with stand-ins for the system's answers on PATH (ldconfig's
cache, id, apt-cache, apt-get, sudo), so Debian 12, Debian 13 and a user without root can be
played on one machine. The full runs in fresh Debian chroots are scripts/check-platforms
(docs/platforms.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(os.name != "posix", reason="the set-up scripts are for Debian and Ubuntu")

EVERY_LIBRARY = [
    "libGL.so.1", "libEGL.so.1", "libfontconfig.so.1", "libfreetype.so.6", "libxkbcommon.so.0", "libdbus-1.so.3",
    "libglib-2.0.so.0", "libcups.so.2",
]


def _stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


def run_setup(tmp_path, *, uid: int, libraries: list[str], apt_knows: list[str], groups: str = "tester",
              sudo: bool = False, python: str = sys.executable) -> tuple[int, str, str]:
    bin_ = tmp_path / "bin"
    bin_.mkdir(exist_ok=True)
    calls = tmp_path / "apt-get.calls"
    cache = "".join(f"\t{lib} (libc6,x86-64) => /lib/x86_64-linux-gnu/{lib}\n" for lib in libraries)
    (tmp_path / "ldcache").write_text(f"{len(libraries)} libs found in cache `/etc/ld.so.cache'\n{cache}")
    _stub(bin_, "ldconfig", f"cat {tmp_path / 'ldcache'}")
    _stub(bin_, "id", f'case "$1" in -u) echo {uid};; -nG) echo {groups};; *) echo uid={uid};; esac')
    known = " ".join(apt_knows)
    _stub(bin_, "apt-cache", f'for k in {known}; do [ "$3" = "$k" ] && echo "Package: $k" && exit 0; done; exit 100')
    _stub(bin_, "apt-get", f'echo "$@" >> {calls}')
    if sudo:
        _stub(bin_, "sudo", "exit 0")
    # The tools checked on PATH (pdftotext) resolve against this PATH only: present when named.
    script = ('source "$ROOT/scripts/_setup.sh"; need_python; need "${QT_NEEDS[@]}"; install_missing; '
              'echo "nothing missing"')
    env = {"PATH": f"{bin_}:/usr/bin:/bin", "ROOT": str(ROOT), "PYTHON": python, "HOME": str(tmp_path)}
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr, calls.read_text() if calls.exists() else ""


def test_debian_13_user_gets_one_message_with_the_t64_names_and_su(tmp_path):
    present = [lib for lib in EVERY_LIBRARY if lib not in ("libglib-2.0.so.0", "libcups.so.2")]
    code, said, apt_calls = run_setup(tmp_path, uid=1000, libraries=present,
                                      apt_knows=["libglib2.0-0t64", "libcups2t64"])
    assert code == 3 and apt_calls == ""
    assert said.count("These system packages are missing") == 1
    assert "su -c 'apt-get update && apt-get install -y --no-install-recommends libglib2.0-0t64 libcups2t64'" in said
    assert "libglib2.0-0 " not in said and "sudo" not in said


def test_debian_12_names_and_sudo_for_a_member_of_the_sudo_group(tmp_path):
    code, said, _ = run_setup(tmp_path, uid=1000, libraries=EVERY_LIBRARY[:-1], apt_knows=["libcups2"],
                              groups="tester sudo", sudo=True)
    assert code == 3 and "sudo sh -c 'apt-get update && apt-get install -y --no-install-recommends libcups2'" in said


def test_nothing_missing_installs_nothing_and_runs_no_apt_get_update(tmp_path):
    code, said, apt_calls = run_setup(tmp_path, uid=0, libraries=EVERY_LIBRARY, apt_knows=[])
    assert code == 0 and "nothing missing" in said and apt_calls == ""


def test_root_installs_only_what_is_missing_in_one_call(tmp_path):
    code, said, apt_calls = run_setup(tmp_path, uid=0, libraries=EVERY_LIBRARY[1:], apt_knows=["libgl1"])
    assert code == 0 and "Installing system packages: libgl1" in said
    assert apt_calls.splitlines() == ["update -qq", "install -y -qq --no-install-recommends libgl1"]


def test_python_3_10_is_refused_in_words(tmp_path):
    fake = tmp_path / "python3.10"
    _stub(tmp_path, "python3.10", 'case "$*" in -V) echo "Python 3.10.12";; *) exit 1;; esac')
    code, said, apt_calls = run_setup(tmp_path, uid=1000, libraries=EVERY_LIBRARY, apt_knows=[], python=str(fake))
    assert code == 3 and "needs Python 3.11, 3.12 or 3.13" in said and "Python 3.10.12" in said
    assert "Ubuntu 22.04 ships Python 3.10" in said and apt_calls == ""
