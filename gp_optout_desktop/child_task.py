"""Run a heavy read in a process of its own, for the desktop app (ADR 0014 addendum, H-80).

A task's Python work on a worker thread shares the GIL with the UI thread: comparing a
100,000-row clinical-system export with the register, or verifying a backup copy's audit
chain, held the desk's UI thread for hundreds of milliseconds at a time (issue 13). In a
process of its own it shares nothing with the UI thread; the worker thread only waits.

Only reads go there (reconcile's comparison against a read snapshot, the backup copy's
check, the restore check): every write stays in the app, through the one write path, so
a child that dies has written nothing. One spawned process per task (spawn, not fork: the
app has Qt threads and an open register whose locks a forked child would inherit), at a
lower priority (nice +5 on Linux, below normal on Windows: priority.lower_this_process) so
the window wins the CPU, and ending itself if the app's process ends.

What crosses back: the result, or one of the project's own refusals (ValidationError,
StoreError: sentences written without patient identifiers), or, for anything else, only
the exception's class name (its text might quote a name or an NHS number). Off by default
(the command line runs the same functions in its own process); ``enable()`` is called by
the desktop app.
"""

from __future__ import annotations

import io
import logging
import pickle
import threading
from typing import Callable

from . import priority
from .domain.errors import ValidationError
from .store.errors import StoreError

log = logging.getLogger(__name__)
CHUNK = 250  # list items per message: unpickling one holds the GIL a few ms, never for the whole answer
_enabled = False
_live: set = set()  # the children running now (ended by shutdown() at lock and quit)
_live_lock = threading.Lock()


class ChildTaskFailed(StoreError):
    """The task's process ended without an answer, or failed in a way not put into words."""


def enable(on: bool = True) -> None:
    global _enabled
    _enabled = on


def enabled() -> bool:
    return _enabled


def run(fn: Callable, *args, what: str, here: Callable | None = None, refusals: tuple[type, ...] = ()):
    """``fn(*args)``, in a child process when enabled, else here. ``fn`` must be a module-level
    function (it is imported by name in the child); ``what`` names the task in a refusal
    ("the reconciliation's comparison"). ``here``: what runs instead in this process (child
    processes off, or one cannot be started), when that needs more than ``fn`` (store.keyfile:
    Argon2id under its memory gate). ``refusals``: more exception classes whose sentences are
    written without patient identifiers and cross back whole (the exclusion file's ExportError)."""
    here = here or fn
    if not _enabled:
        return here(*args)
    import multiprocessing
    from multiprocessing.connection import wait

    context = multiprocessing.get_context("spawn")
    opened: list = []
    try:
        receive, send = context.Pipe(duplex=False)  # the answer, child -> app
        opened += [receive, send]
        work_in, work_out = context.Pipe(duplex=False)  # the arguments, app -> child, sent after the start
        opened += [work_in, work_out]
        child = context.Process(target=_child_main, args=(send, work_in, fn, tuple(refusals)), name="gp-optout-task",
                                daemon=True)
        child.start()
    except OSError as exc:  # why: cannot start a process (limits, memory): do it here, slower for the UI only
        from .problem_log import log_problem

        for end in opened:  # the pipes' descriptors, which the task here may need (a low open-file limit)
            end.close()
        log_problem(log, f"A process for {what} could not be started; running it in the app instead", exc)
        return here(*args)
    send.close()
    work_in.close()
    with _live_lock:
        _live.add(child)
    try:
        # The arguments go through a pipe of their own, not start()'s: start() writes its payload
        # while this process still holds that pipe's read end, so a child that died before reading
        # a large one (the import's CSV text) left this thread blocked for ever, out of shutdown()'s reach.
        try:
            work_out.send(args)
        except OSError:  # why: the child ended before taking its work (a broken pipe): said below, from its answer
            pass
        finally:
            work_out.close()
        wait([receive, child.sentinel])
        try:
            kind, value = _receive(receive)
        except (EOFError, OSError):  # why: the child ended without an answer (killed, out of memory)
            child.join(5)
            raise ChildTaskFailed(
                f"{what[:1].upper()}{what[1:]} stopped before it finished (its process ended, code "
                f"{child.exitcode}). Nothing was changed. Try again; if it happens again, restart the app.") from None
    finally:
        receive.close()
        child.join(5)
        if child.is_alive():
            child.kill()
        with _live_lock:
            _live.discard(child)
    if kind == "ok":
        return value
    if kind == "refused":
        raise value
    raise ChildTaskFailed(f"{what[:1].upper()}{what[1:]} failed ({value}). Nothing was changed. Try again; if it "
                          "happens again, note the time and report it.")


class _Splitter(pickle.Pickler):
    """Pickles an answer with its long lists left out (sent after it, CHUNK items a message)."""

    def __init__(self, file):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.lists: list[list] = []
        self._ids: dict[int, int] = {}

    def persistent_id(self, obj):
        if type(obj) is list and len(obj) > CHUNK:
            pid = self._ids.get(id(obj))
            if pid is None:
                pid = self._ids[id(obj)] = len(self.lists)
                self.lists.append(obj)
            return pid
        return None


class _Joiner(pickle.Unpickler):
    def __init__(self, file):
        super().__init__(file)
        self.lists: dict[int, list] = {}

    def persistent_load(self, pid):
        return self.lists.setdefault(pid, [])


def _send(send, kind: str, value) -> None:
    """One answer, its long lists in pieces: unpickling a 100,000-item answer in one call
    held the GIL (so the UI thread) for 1-2 s at a time (issue 13)."""
    if kind != "ok":
        send.send((kind, value, []))
        return
    buffer = io.BytesIO()
    splitter = _Splitter(buffer)
    splitter.dump(value)
    send.send((kind, buffer.getvalue(), [len(items) for items in splitter.lists]))
    for items in splitter.lists:
        for start in range(0, len(items), CHUNK):
            send.send_bytes(pickle.dumps(items[start:start + CHUNK], protocol=pickle.HIGHEST_PROTOCOL))


def _receive(receive) -> tuple[str, object]:
    kind, value, sizes = receive.recv()
    if kind != "ok":
        return kind, value
    joiner = _Joiner(io.BytesIO(value))
    value = joiner.load()
    for pid, size in enumerate(sizes):
        items = joiner.lists.setdefault(pid, [])
        while len(items) < size:
            items.extend(pickle.loads(receive.recv_bytes()))  # the UI thread may take the GIL between pieces
    return "ok", value


def shutdown() -> None:
    """End any child still running (lock, quit): what it read goes with it."""
    with _live_lock:
        children = list(_live)
    for child in children:
        if child.is_alive():
            child.kill()


def _child_main(send, work, fn: Callable, refusals: tuple[type, ...] = ()) -> None:
    """Runs in the child: lower priority, a watch on the app's process, the task's arguments from
    ``work``, the task, one answer."""
    import multiprocessing
    import os
    import pickle

    priority.lower_this_process()  # nice +5 on Linux, below normal on Windows; refused: the app's priority
    parent = multiprocessing.parent_process()
    if parent is not None:
        def exit_with_parent() -> None:  # the app crashed or was killed: nothing here is written anywhere
            parent.join()
            os._exit(0)

        threading.Thread(target=exit_with_parent, name="exit-with-app", daemon=True).start()
    try:
        args = work.recv()
        work.close()
        answer: tuple[str, object] = ("ok", fn(*args))
    except (ValidationError, StoreError, *refusals) as exc:  # the project's own sentences, written without identifiers
        answer = ("refused", exc)
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:  # why: an exception type that does not travel: say only its class
            answer = ("failed", exc.__class__.__name__)
    except BaseException as exc:  # why: its text may quote patient data: only the class crosses
        answer = ("failed", exc.__class__.__name__)
    _send(send, *answer)
    send.close()
