"""What keeps the UI thread answering while a long task runs on a worker (ADR 0014).

Python runs one thread at a time (the GIL). A worker running Python code (rendering,
parsing, building rows) gives the GIL back to the UI thread only when the UI thread has
waited a whole switch interval, 5 ms by default, and every timer, paint and key event
that calls into Python waits again; a full garbage collection holds it for as long as
it takes to walk every object the process keeps. So:

- the switch interval is 1 ms: the UI thread waits at most a millisecond for its turn
  (tasks pay a few per cent in switches; measured in benchmarks/bench_ui.py);
- letters are rendered in a process of their own (letters.apart), and heavy reads
  (reconcile's comparison, a backup's checks) in one of their own (child_task);
- task threads and task processes run at a lower priority (nice +5 on Linux, below normal
  on Windows: gp_optout_desktop.priority): on a busy PC the UI thread
  gets the CPU first, and a task takes a little longer instead;
- while a register is open, the objects made up to the unlock (modules, screens, the
  window) are frozen out of the collector's walks (gc.freeze); they are unfrozen at lock;
- while a task runs on a worker, the collector does not run by itself: a task that builds
  a million rows made it walk them again and again, up to 122 ms at a time with the GIL
  held. Reference counting still frees almost everything at once;
- when the last task ends, what it left alive (its answer: an export's rows, a
  reconciliation's findings) is frozen out of the collector's walks too, before the
  collector runs by itself again: its first collection after a task walked all of it in
  one go, with the GIL held, 100-250 ms after an import or an export and 0.4-1 s after a
  reconciliation (issue 13). What the screen then makes of the answer on the UI thread (a
  table model's copy of 100,000 findings) is frozen too, once it is shown: the first young
  collection after it, on whichever thread (the desk's search), walked that list, 7-11 ms
  with the GIL held. Reference cycles a task left as garbage are then freed at
  the lock, with the rest (tasks run while locked, such as the unlock, freeze nothing).
"""

from __future__ import annotations

import gc
import sys
import threading
from contextlib import contextmanager
from typing import Callable

from .. import child_task, priority
from ..letters import apart

SWITCH_INTERVAL_S = 0.001
_lower_tasks = False


def tune() -> None:
    """Once, when the desktop app starts (the command line keeps Python's defaults)."""
    global _lower_tasks
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    apart.enable()
    child_task.enable()
    _lower_tasks = True


def lower_this_thread() -> None:
    """A task thread (ui.worker) gives way to the UI thread: 5 nice steps below it for this
    thread only on Linux, below normal on Windows (priority.lower_this_thread). At every task:
    setting it again changes nothing (a thread-local "done" did not survive from one task to
    the next on Qt's pool threads, so each task lowered its thread 5 steps more, to nice 19)."""
    if _lower_tasks:
        priority.lower_this_thread()


_unlocked = False


def settled() -> None:
    """The window is built and unlocked: what exists now lives until the lock."""
    global _unlocked
    _unlocked = True
    gc.freeze()


def forget() -> None:
    """Locked: the frozen objects may be collected again; the renderer's process, which
    saw patients' names and addresses, ends (after any letters it is rendering now)."""
    global _unlocked
    _unlocked = False
    gc.unfreeze()
    apart.shutdown(wait=False)
    child_task.shutdown()


_tasks_lock = threading.Lock()
_tasks = 0
_was_enabled = True


def when_answered(callback: Callable[[object], None]) -> Callable[[object], None]:
    """``callback`` (a task's answer or refusal, handled on the UI thread), then what it made
    of the answer frozen out of the collector's walks, as the answer itself was (module
    docstring), unless another task is still running (its end freezes it all) or the
    register is locked."""
    def handled(value) -> None:
        try:
            callback(value)
        finally:
            with _tasks_lock:
                idle = _tasks == 0
            if _unlocked and idle and gc.isenabled():
                gc.freeze()
    return handled


@contextmanager
def task_running():
    """Around a task on a worker thread (ui.worker): automatic collection paused meanwhile,
    and what the tasks left alive frozen out of it after the last one."""
    global _tasks, _was_enabled
    with _tasks_lock:
        if _tasks == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _tasks += 1
    try:
        yield
    finally:
        with _tasks_lock:
            _tasks -= 1
            if _tasks == 0 and _was_enabled:
                if _unlocked:  # not while locked (an unlock's own task): a closed session's garbage goes then
                    gc.freeze()  # the task's leftovers: never walked in one go (module docstring)
                gc.enable()
