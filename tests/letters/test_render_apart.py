"""The desktop app renders letters in a process of their own (letters.apart, ADR 0014): the
same pages as rendering here, the process reused and ended at lock, and letters still
rendered if the process dies."""

from __future__ import annotations

import os
import signal

import pytest

from gp_optout_desktop.letters import apart
from gp_optout_desktop.letters.render import render_bytes
from tests.letters.helpers import PRACTICE, objection, pdf_text, recipient


@pytest.fixture
def enabled():
    apart.enable()
    yield
    apart.enable(False)


def _letters():
    return [objection(), objection("L-000002", recipient=recipient(surname="O'Brien-Ŵyn", forenames="Siân"))]


def _pids() -> set[int]:
    pool = apart._pool  # noqa: SLF001 - which process rendered is the point of the test
    return set(pool._processes) if pool is not None else set()  # noqa: SLF001


def test_the_process_renders_the_same_pages_as_here(enabled, tmp_path):
    here, here_letters = render_bytes(_letters(), PRACTICE)
    there, there_letters = apart.render_bytes(_letters(), PRACTICE)
    assert _pids() and os.getpid() not in _pids()  # it ran in another process
    assert there_letters == here_letters
    (tmp_path / "here.pdf").write_bytes(here)
    (tmp_path / "there.pdf").write_bytes(there)
    assert pdf_text(tmp_path / "there.pdf") == pdf_text(tmp_path / "here.pdf")
    assert "Siân O'Brien-Ŵyn" in " ".join(pdf_text(tmp_path / "there.pdf"))


def test_the_process_is_reused_and_ended_by_shutdown(enabled):
    apart.render_bytes(_letters()[:1], PRACTICE)
    first = _pids()
    apart.render_bytes(_letters()[:1], PRACTICE)
    assert _pids() == first  # no new process per batch
    apart.shutdown()
    assert apart._pool is None  # noqa: SLF001
    for pid in first:
        with pytest.raises(ProcessLookupError):  # reaped: it no longer exists
            os.kill(pid, 0)


@pytest.mark.posix_only(reason="kills the renderer's process with SIGKILL")
def test_letters_are_still_rendered_when_the_process_dies(enabled):
    apart.warm()
    (pid,) = _pids()
    os.kill(pid, signal.SIGKILL)
    data, letters = apart.render_bytes(_letters(), PRACTICE)
    assert data.startswith(b"%PDF") and [letter.reference for letter in letters] == ["L-000001", "L-000002"]


def test_off_by_default_the_letters_render_here():
    assert not apart.enabled()
    data, _ = apart.render_bytes(_letters()[:1], PRACTICE)
    assert data.startswith(b"%PDF") and apart._pool is None  # noqa: SLF001


WINDOW = r"""
import os, sys
from gp_optout_desktop.letters import apart
apart.enable()
apart.warm()
print(*apart._pool._processes, flush=True)
sys.stdin.readline()  # the test kills this process while it waits here
"""


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for its new parent to reap it."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.posix_only(reason="kills the window's process with SIGKILL and reads /proc")
def test_the_renderer_ends_itself_when_the_window_is_killed():
    """Hazard H-77: a window that crashes cannot end its renderer, which holds the names and
    addresses it last rendered; the renderer must notice and end itself."""
    import subprocess
    import sys
    import time

    window = subprocess.Popen([sys.executable, "-c", WINDOW], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    (renderer,) = [int(pid) for pid in window.stdout.readline().split()]
    assert _running(renderer)
    window.kill()
    window.wait()
    deadline = time.monotonic() + 60  # generous: the machine may be loaded; it normally goes at once
    try:
        while _running(renderer) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(renderer), "the renderer outlived its window"
    finally:
        if _running(renderer):
            os.kill(renderer, signal.SIGKILL)  # not left behind by a failing run
