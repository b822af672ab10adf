"""Lower the priority of a task's thread or a child process, on Linux and on Windows.

The desk's UI thread must get the CPU first while a task runs (ADR 0014): task threads and
the task processes (child_task) give way to it. Linux sets a nice value per thread
(setpriority on the thread's id) and per process (os.nice); Windows has neither, but
SetThreadPriority and SetPriorityClass in kernel32, called here through ctypes. Elsewhere
(macOS, BSD) nothing is changed. A refusal leaves the priority as it was: a task then runs
at the window's priority, slower for the window, never wrong.
"""

from __future__ import annotations

import os
import sys
import threading

NICE = 5
THREAD_PRIORITY_BELOW_NORMAL = -1  # Windows: one step below the window's threads (nice +5 is about that)
BELOW_NORMAL_PRIORITY_CLASS = 0x00004000


def _kernel32():
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.GetCurrentThread.restype = wintypes.HANDLE
    kernel32.GetCurrentProcess.restype = wintypes.HANDLE
    kernel32.SetThreadPriority.argtypes = (wintypes.HANDLE, ctypes.c_int)
    kernel32.SetThreadPriority.restype = wintypes.BOOL
    kernel32.SetPriorityClass.argtypes = (wintypes.HANDLE, wintypes.DWORD)
    kernel32.SetPriorityClass.restype = wintypes.BOOL
    return kernel32


def lower_this_thread() -> bool:
    """This thread only (the caller's). True if the priority was lowered."""
    if sys.platform.startswith("linux"):
        thread = threading.get_native_id()
        try:
            os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + NICE))
        except OSError:  # why: not allowed here: the task runs at the window's priority, as before
            return False
        return True
    if sys.platform == "win32":
        kernel32 = _kernel32()
        return bool(kernel32.SetThreadPriority(kernel32.GetCurrentThread(), THREAD_PRIORITY_BELOW_NORMAL))
    return False


def lower_this_process() -> bool:
    """The whole (child) process, threads it starts later included. True if lowered."""
    if sys.platform == "win32":
        kernel32 = _kernel32()
        return bool(kernel32.SetPriorityClass(kernel32.GetCurrentProcess(), BELOW_NORMAL_PRIORITY_CLASS))
    if hasattr(os, "nice"):
        try:
            os.nice(NICE)
        except OSError:  # why: not allowed here: the task runs at the app's priority
            return False
        return True
    return False
