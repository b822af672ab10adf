"""Run by scripts/build-windows under Windows CPython (wine): a task's thread and a task's
process get Windows' below-normal priority, and the thread that starts them keeps normal
(gp_optout_desktop.priority, ADR 0014). The Linux half of this is tests/test_priority.py;
this half cannot run there. Prints 'priority ok', or each difference and exits 1."""

import ctypes
import sys
import threading
from ctypes import wintypes

from gp_optout_desktop import child_task, priority

BELOW_NORMAL_PRIORITY_CLASS = 0x00004000


def _kernel32():
    kernel32 = ctypes.WinDLL("kernel32")
    kernel32.GetCurrentThread.restype = wintypes.HANDLE
    kernel32.GetCurrentProcess.restype = wintypes.HANDLE
    kernel32.GetThreadPriority.argtypes = (wintypes.HANDLE,)
    kernel32.GetPriorityClass.argtypes = (wintypes.HANDLE,)
    kernel32.GetPriorityClass.restype = wintypes.DWORD
    return kernel32


def task_process_class() -> int:
    """In the task process: its priority class (child_task lowers it before the task runs)."""
    kernel32 = _kernel32()
    return kernel32.GetPriorityClass(kernel32.GetCurrentProcess())


def main() -> int:
    kernel32 = _kernel32()
    problems = []
    seen = {}

    def task_thread():
        seen["lowered"] = priority.lower_this_thread()
        seen["priority"] = kernel32.GetThreadPriority(kernel32.GetCurrentThread())

    thread = threading.Thread(target=task_thread)
    thread.start()
    thread.join(60)
    if seen != {"lowered": True, "priority": priority.THREAD_PRIORITY_BELOW_NORMAL}:
        problems.append(f"a task thread: lowered={seen.get('lowered')}, priority={seen.get('priority')} "
                        f"(expected True, {priority.THREAD_PRIORITY_BELOW_NORMAL})")
    if kernel32.GetThreadPriority(kernel32.GetCurrentThread()) != 0:
        problems.append("the calling thread was lowered too")
    child_task.enable(True)
    got = child_task.run(task_process_class, what="the priority check")
    if got != BELOW_NORMAL_PRIORITY_CLASS:
        problems.append(f"a task process: priority class {got:#x} (expected {BELOW_NORMAL_PRIORITY_CLASS:#x})")
    if kernel32.GetPriorityClass(kernel32.GetCurrentProcess()) == BELOW_NORMAL_PRIORITY_CLASS:
        problems.append("the app's own process was lowered")
    for problem in problems:
        print("priority check:", problem)
    if not problems:
        print("priority ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
