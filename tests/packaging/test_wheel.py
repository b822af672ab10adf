"""A built wheel works on its own: built from this tree, installed into a fresh venv outside
it, and the installed `gp-optout` taken through a real session (issue 14: the wheel once
had no code table, fonts or letter templates, so object, export and letters failed).

The venv gets the wheel and every dependency it declares except Qt's (~600 MB of wheels;
the command line never imports Qt, which this also proves), at the pinned versions."""

from __future__ import annotations

import csv
import email
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfReader

ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"
PASSWORD = "pm-password-1"


def _pip(*args: str, cwd: Path) -> None:
    env = {**os.environ, "PIP_CONSTRAINT": str(CONSTRAINTS), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run([sys.executable, "-m", "pip", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The bin folder of a fresh venv holding the wheel built from this tree."""
    work = tmp_path_factory.mktemp("wheel")
    dist = work / "dist"
    _pip("wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT), cwd=work)
    (wheel,) = dist.glob("gp_optout_desktop-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        meta = email.message_from_bytes(zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))))
    for data in ("codes.json", "fonts/DejaVuSans.ttf", "fonts/DejaVuSans-Bold.ttf", "letters/objection.txt"):
        assert f"gp_optout_desktop/resources/{data}" in names, f"{data} missing from the wheel"
    assert meta["License-Expression"] == "MIT AND Bitstream-Vera"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)

    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    deps = [req.split(";")[0].strip() for req in meta.get_all("Requires-Dist")
            if "extra ==" not in req and not req.lower().startswith("pyside6")]
    _pip("--python", str(py), "install", "-q", "--no-deps", str(wheel), cwd=work)
    _pip("--python", str(py), "install", "-q", *deps, cwd=work)
    return py.parent


def test_installed_wheel_records_exports_and_prints(installed, tmp_path):
    register, exports, batch = tmp_path / "register", tmp_path / "exclusions", tmp_path / "batch.pdf"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(GP_OPTOUT_REGISTER=str(register), GP_OPTOUT_PASSWORD=PASSWORD, PYTHONUTF8="1")
    gp = installed / "gp-optout"

    def run(*args: str) -> str:
        # Run from a folder outside the source tree, so only the installed copy can be found.
        done = subprocess.run([str(gp), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                              encoding="utf-8")
        assert done.returncode == 0, f"{args[:3]}: exit {done.returncode}: {done.stderr}"
        return done.stdout

    where = subprocess.run([str(installed / "python"), "-c", "import gp_optout_desktop, importlib.util as u;"
                            "print(gp_optout_desktop.__file__, u.find_spec('PySide6'))"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout
    assert "site-packages" in where and str(ROOT) not in where and where.strip().endswith("None")

    assert "RECOVERY KEY" in run("--user", "pm", "init", "--ods", "F84003", "--practice-name", "Wheel Surgery")
    assert "Added Siân Jones" in run("--user", "pm", "patient", "add", "--nhs", "999 000 0018", "--surname", "Jones",
                                     "--forenames", "Siân", "--dob", "1961-11-19", "--postcode", "cf10 1aa")
    assert "Type 1 objection recorded" in run("--user", "pm", "object", "--nhs", "9990000018", "--via", "post")
    assert "Objects to their GP data leaving the practice, since" in run("--user", "pm", "status", "--nhs",
                                                                          "9990000018")

    # The exclusion file: written, then read back through the fail-closed consult.
    assert "1 patient(s) listed" in run("--user", "pm", "export", "--out", str(exports))
    run("--user", "pm", "export-public-key", "--out", str(tmp_path / "public.pem"))
    (tmp_path / "candidates.csv").write_text("nhs_number\n9990000018\n9990000026\n", encoding="utf-8")
    run("consult", "--exclusions", str(exports), "--public-key", str(tmp_path / "public.pem"),
        "--in", str(tmp_path / "candidates.csv"), "--out", str(tmp_path / "allowed.csv"), "--practice", "F84003",
        "--state", str(tmp_path / "consumer-state.json"))
    with open(tmp_path / "allowed.csv", encoding="utf-8", newline="") as f:
        assert [row["nhs_number"] for row in csv.DictReader(f)] == ["9990000026"]

    # The letter, printed to PDF with the bundled font (the accent survives) and template.
    assert "Printed 1 letter" in run("--user", "pm", "letters", "print", "--out", str(batch))
    text = "".join(page.extract_text() for page in PdfReader(batch).pages)
    assert "Dear Siân Jones" in text and "999 000 0018" in text and "Wheel Surgery" in text
    assert "No letters are waiting" in run("--user", "pm", "letters", "pending")
