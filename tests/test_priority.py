"""Task threads and task processes give way to the desk's UI thread (gp_optout_desktop.priority,
ADR 0014): lowered by 5 nice steps on Linux, one priority step (below normal) on Windows."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from gp_optout_desktop import child_task, priority


def _in_a_thread(fn):
    out = {}
    thread = threading.Thread(target=lambda: out.update(result=fn()))
    thread.start()
    thread.join(10)
    return out["result"]


def _process_nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, 0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux sets a nice value per thread")
def test_a_task_thread_is_lowered_and_the_calling_thread_is_not():
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def lower():
        lowered = priority.lower_this_thread()
        return lowered, os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    lowered, theirs = _in_a_thread(lower)
    assert lowered and theirs == min(19, mine + priority.NICE)  # relative: the app may already run niced
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the child's nice value")
def test_a_task_process_runs_lowered(apart):
    assert child_task.run(_process_nice, what="a check") == min(19, _process_nice() + priority.NICE)


@pytest.mark.skipif(sys.platform != "win32", reason="Windows thread priorities (kernel32)")
def test_a_task_thread_is_below_normal_on_windows():  # pragma: no cover - runs on Windows only
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32")
    kernel32.GetCurrentThread.restype = wintypes.HANDLE
    kernel32.GetThreadPriority.argtypes = (wintypes.HANDLE,)

    def lower():
        return priority.lower_this_thread(), kernel32.GetThreadPriority(kernel32.GetCurrentThread())

    assert _in_a_thread(lower) == (True, priority.THREAD_PRIORITY_BELOW_NORMAL)
    assert kernel32.GetThreadPriority(kernel32.GetCurrentThread()) == 0  # the calling thread: normal


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux sets a nice value per thread")
def test_a_thread_lowered_again_stays_one_step_below_the_window():
    """A Qt pool thread runs task after task; each lowers it: it must stay 5 steps below the
    window's thread, not sink 5 more each time (it reached nice 19 after four tasks)."""
    window = os.getpriority(os.PRIO_PROCESS, os.getpid())

    def lower_three_times():
        for _ in range(3):
            assert priority.lower_this_thread()
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    assert _in_a_thread(lower_three_times) == min(19, window + priority.NICE)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the child's nice value")
def test_a_task_process_started_from_a_lowered_thread_is_one_step_below_the_window(apart):
    """The child inherits its starting thread's nice value (already lowered): it must end one
    step below the app's window thread, not two."""
    window = os.getpriority(os.PRIO_PROCESS, os.getpid())

    def from_a_task_thread():
        priority.lower_this_thread()
        return child_task.run(_process_nice, what="a check")

    assert _in_a_thread(from_a_task_thread) == min(19, window + priority.NICE)
