"""The Windows build installs the same pinned versions as pyproject.toml, each checked by hash.

scripts/build-windows installs installers/windows/requirements-win.txt with --require-hashes under
wine; if a pin in pyproject.toml moves and this file does not, the Windows installer would ship a
different version than the one tested here. This catches that before a build.
"""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;]+)")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _windows_requirements() -> dict[str, tuple[str, str]]:
    pins = {}
    for line in (ROOT / "installers" / "windows" / "requirements-win.txt").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = PIN.match(line)
        assert m, f"not an exact pin: {line!r}"
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})\b", line)
        assert hashes, f"no sha256 hash: {line!r}"
        pins[_norm(m.group(1))] = (m.group(2), hashes[0])
    return pins


def test_every_runtime_pin_is_in_the_windows_requirements_with_the_same_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    windows = _windows_requirements()
    runtime = [PIN.match(dep) for dep in project["dependencies"]]
    assert runtime and all(runtime), "pyproject.toml's dependencies are exact pins"
    for m in runtime:
        name, version = _norm(m.group(1)), m.group(2)
        assert name in windows, f"{name} is a dependency but not in requirements-win.txt"
        assert windows[name][0] == version, f"{name}: pyproject.toml pins {version}, the Windows build {windows[name][0]}"


def test_the_build_tools_are_pinned_too():
    windows = _windows_requirements()
    for tool in ("pyinstaller", "pyinstaller-hooks-contrib", "pefile", "pywin32-ctypes", "pip"):
        assert tool in windows, f"{tool} is not pinned for the Windows build"


def test_shared_transitive_pins_agree_with_the_project_lock():
    lock = ROOT / "requirements" / "constraints.txt"
    windows = _windows_requirements()
    locked = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        m = PIN.match(line.strip())
        if m:
            locked[_norm(m.group(1))] = m.group(2)
    assert locked, "the lock file lists pins"
    # setuptools is a build tool in the lock and PyInstaller's run-time dependency on Windows: may differ.
    differ = {n: (v, windows[n][0]) for n, v in locked.items() if n in windows and n != "setuptools" and windows[n][0] != v}
    assert not differ, f"the Windows build and requirements/constraints.txt pin different versions: {differ}"
