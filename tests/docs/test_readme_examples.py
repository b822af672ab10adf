"""Every command in the README's command-line section runs as written, in order, against a
temporary register: the test only moves the example paths (/path/to/register, /media/usb,
/srv/extract) into a temporary folder, writes the input files the examples name
(objections.csv, candidates.csv), and types passwords at the prompts on a real terminal
(a pty), as a person would. Each must exit 0, and what the comments promise is checked."""

from __future__ import annotations

import fcntl
import os
import re
import select
import shutil
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from pypdf import PdfReader

from gp_optout_desktop.domain.nhs_number import display, synthetic_range

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = ("New password: ", "Recovery key: ", "Your password, to confirm: ", "Your password for this register: ",
           "Password: ")


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## The command line"):text.index("## Tests and benchmarks")]
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", section, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip():
                lines.append(line.strip())
    return lines


class Typist:
    """Runs one command line with a terminal for stdin and answers its password prompts."""

    def __init__(self, env: dict, cwd: Path):
        self.env, self.cwd = env, cwd
        self.passwords: dict[str, str] = {}
        self.recovery_key = ""
        self.changes = 0

    def run(self, line: str) -> tuple[int, str, str]:
        user = (re.search(r"--user (\S+)", line) or [None, None])[1]
        master, slave = os.openpty()

        def own_terminal():  # the pty becomes the command's terminal: getpass prompts on it
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        proc = subprocess.Popen(["bash", "-c", line], stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                cwd=self.cwd, env=self.env, preexec_fn=own_terminal)
        os.close(slave)
        got = {proc.stdout.fileno(): b"", proc.stderr.fileno(): b"", master: b""}
        open_fds = set(got)
        deadline = time.monotonic() + 60
        try:
            while open_fds:
                ready, _, _ = select.select(list(open_fds), [], [], 0.2)
                for fd in ready:
                    try:
                        chunk = os.read(fd, 65536)
                    except OSError:  # the terminal closes with an I/O error when the command ends
                        chunk = b""
                    if not chunk:
                        open_fds.discard(fd)
                        continue
                    got[fd] += chunk
                    if fd == master:
                        answer = self._answer(got[master].decode("utf-8", "replace"), user, line)
                        if answer is not None:
                            os.write(master, answer.encode() + b"\n")
                            got[master] = b""
                if proc.poll() is not None and master in open_fds and not ready:
                    open_fds.discard(master)
                assert time.monotonic() < deadline, f"{line!r} hung; said: {got}"
        finally:
            os.close(master)
            if proc.poll() is None:
                proc.kill()
        return proc.wait(), got[proc.stdout.fileno()].decode("utf-8"), got[proc.stderr.fileno()].decode("utf-8")

    def _answer(self, said: str, user: str | None, line: str) -> str | None:
        prompt = next((p for p in PROMPTS if said.rstrip().endswith(p.rstrip())), None)
        if prompt is None:
            return None
        if prompt == "Recovery key: ":
            return self.recovery_key
        if prompt == "New password: " and (" passwd" in line or " recover" in line or " init " in line):
            self.changes += 1
            self.passwords[user] = f"{user}-readme-password-{self.changes}"
            return self.passwords[user]
        return self.passwords[user]


@pytest.mark.slow
def test_every_readme_command_runs_as_written(tmp_path):
    lines = readme_commands()
    assert len(lines) > 30 and all(line.startswith(("gp-optout ", "export ")) for line in lines), lines
    gp = shutil.which("gp-optout", path=str(Path(sys.executable).parent))
    assert gp, "gp-optout is not installed in this environment (scripts/run-tests installs it)"
    places = {"/path/to/register": tmp_path / "register", "/path/to/demo-register": tmp_path / "demo",
              "/media/usb": tmp_path / "usb", "/srv/extract": tmp_path / "extract"}
    (tmp_path / "usb").mkdir()
    (tmp_path / "extract").mkdir()
    work = tmp_path / "work"
    work.mkdir()
    imported = synthetic_range(40)[-2:]  # clear of the README's 999 000 0018 and 0026
    (work / "objections.csv").write_text(
        "NHS Number,Surname,Forename(s),Date of Birth,Postcode,Address Line 1,Clinical Code,Code Date\n"
        f"{display(imported[0])},Imported,Ann,1950-02-03,LS1 4AP,1 Example Road,9Nu0.,2019-06-01\n"
        f"{imported[1]},Imported,Bob,1975-01-01,LS1 4AP,1 Example Road,827241000000103,2021-06-20\n", encoding="utf-8")
    (work / "candidates.csv").write_text(
        "NHS Number\n999 000 0026\n" + "".join(f"{n}\n" for n in imported) + "9990000018\n", encoding="utf-8")

    shutil.copy(work / "candidates.csv", work / "cohort.csv")

    env = {k: v for k, v in os.environ.items() if not k.startswith("GP_OPTOUT_")}
    env["PATH"] = f"{Path(gp).parent}{os.pathsep}{env.get('PATH', '')}"
    typist = Typist(env, work)
    said = {}
    for line in lines:
        for example, real in places.items():
            line = line.replace(example, str(real))
        if line.startswith("export "):
            name, value = line.split("#")[0][len("export "):].strip().split("=", 1)
            env[name] = value
            continue
        code, out, err = typist.run(line)
        assert code == 0, f"{line!r} exited {code}: {err.strip()[-600:]}"
        said[line.split("#")[0].strip()] = out
        if " init " in line:
            typist.recovery_key = re.search(r"RECOVERY KEY.*\n\s+(\S+)", out)[1]
        temporary = re.search(r"[Tt]emporary password[^:\n]*:\s*(\S+)", out)
        if temporary and " user add " in line:
            typist.passwords[re.search(r"user add (\S+)", line)[1]] = temporary[1]

    def output(start: str) -> str:
        return next(v for k, v in said.items() if k.startswith(start))

    assert "JONES, Siân" in output("gp-optout --user desk1 patient find jones")
    assert "Objects to their GP data leaving the practice, since" in output("gp-optout --user desk1 status")
    assert "intact" in output("gp-optout --user pm audit verify")
    assert (tmp_path / "usb" / "register-2026-11-23.gpbackup").stat().st_size > 0
    assert (tmp_path / "extract" / "exclusions" / "CURRENT").exists()
    # The consult kept only those who do not object: 0026 objects (again), the imports object.
    assert (work / "allowed.csv").read_text(encoding="utf-8").split() == ["NHS", "Number", "9990000018"]
    assert "9990000018" in (work / "national-check.csv").read_text(encoding="utf-8")
    assert "9990000026" not in (work / "national-check.csv").read_text(encoding="utf-8")
    assert "Jones-Evans" in "".join(p.extract_text() for p in PdfReader(work / "batch.pdf").pages)
    assert len(list((work / "letters").glob("*.pdf"))) >= 2
    assert (work / "again.pdf").stat().st_size > 0
    assert "2000 synthetic patients" in output(f"gp-optout --register {tmp_path / 'demo'} demo")
