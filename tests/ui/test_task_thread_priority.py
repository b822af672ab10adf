"""The window's task threads (ui.worker on Qt's thread pool) run task after task at one
priority, 5 nice steps below the UI thread (ADR 0014 addendum 3): they used to sink 5 steps
more with every task, to nice 19, so a task holding the GIL on a busy PC kept the UI thread
waiting (issue 13)."""

from __future__ import annotations

import os
import sys
import threading

import pytest
from PySide6.QtCore import QThreadPool

from gp_optout_desktop import priority
from gp_optout_desktop.ui import responsive, worker


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux sets a nice value per thread")
def test_a_pool_thread_running_task_after_task_stays_one_step_below_the_ui_thread(qtbot, monkeypatch):
    monkeypatch.setattr(responsive, "_lower_tasks", True)  # what responsive.tune() turns on in the app
    pool = QThreadPool.globalInstance()
    was = pool.maxThreadCount()
    pool.setMaxThreadCount(1)  # one thread: every task runs on it, one after another
    seen: list[tuple[int, int]] = []
    try:
        def task():
            tid = threading.get_native_id()
            return tid, os.getpriority(os.PRIO_PROCESS, tid)

        for _ in range(5):
            worker.run(task, seen.append, pytest.fail)
        qtbot.waitUntil(lambda: len(seen) == 5, timeout=10000)
    finally:
        pool.setMaxThreadCount(was)
    window = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert len({tid for tid, _ in seen}) == 1, "the same pool thread ran them all"
    assert [nice for _, nice in seen] == [min(19, window + priority.NICE)] * 5
