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


def _one_step_below(window_thread: int) -> int:
    """Linux: NICE steps below the window's thread (a process's main thread: its id is the
    process id), whatever the calling thread or process inherited. Absolute, not relative
    to the caller: a Qt pool thread runs many tasks and lowering it by NICE at each one took
    it to nice 19 after four (issue 13; a GIL holder at nice 19 on a busy PC kept the UI
    thread waiting for hundreds of milliseconds), and a process spawned from a lowered
    thread starts lowered already."""
    return min(19, os.getpriority(os.PRIO_PROCESS, window_thread) + NICE)


def _lower_linux_thread(thread: int, window_thread: int) -> bool:
    try:
        target = _one_step_below(window_thread)
        if os.getpriority(os.PRIO_PROCESS, thread) < target:
            os.setpriority(os.PRIO_PROCESS, thread, target)
    except OSError:  # why: not allowed here: the task runs at the window's priority, as before
        return False
    return True


def lower_this_thread() -> bool:
    """This thread only (the caller's), to NICE steps below the window's thread. True if it is."""
    if sys.platform.startswith("linux"):
        return _lower_linux_thread(threading.get_native_id(), os.getpid())
    if sys.platform == "win32":
        kernel32 = _kernel32()
        return bool(kernel32.SetThreadPriority(kernel32.GetCurrentThread(), THREAD_PRIORITY_BELOW_NORMAL))
    return False


def lower_this_process() -> bool:
    """The whole (child) process, threads it starts later included. True if lowered."""
    if sys.platform == "win32":
        kernel32 = _kernel32()
        return bool(kernel32.SetPriorityClass(kernel32.GetCurrentProcess(), BELOW_NORMAL_PRIORITY_CLASS))
    if sys.platform.startswith("linux"):  # one step below the app's window thread (the parent's main thread)
        return _lower_linux_thread(threading.get_native_id(), os.getppid())
    if hasattr(os, "nice"):
        try:
            os.nice(NICE)
        except OSError:  # why: not allowed here: the task runs at the app's priority
            return False
        return True
    return False
