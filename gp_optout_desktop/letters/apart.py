"""Render letters in a process of their own, for the desktop app.

reportlab is pure Python: on a worker thread it shares the GIL with the UI thread, which
then waits up to the interpreter's switch interval each time it needs the GIL back, and a
garbage collection of the renderer's objects holds it for tens of milliseconds at a time.
Printing 658 letters froze the desk for up to 756 ms at a time (issue 13). In a process
of its own the renderer shares nothing with the UI thread; the worker thread only waits.

One spawned process, started on first use and reused (importing reportlab there costs
about half a second), ended by ``shutdown()`` at lock and quit. Spawn, not fork: the
desktop has Qt threads and an open register whose locks a forked child would inherit.
Off by default (the command line renders in its own process already); ``enable()`` is
called by the desktop app. If the process cannot start or dies, the letters are
rendered here instead: slower for the UI, never lost.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Mapping, Sequence

if TYPE_CHECKING:  # reportlab and the process pool are imported when letters are rendered (quick start-up)
    from concurrent.futures import ProcessPoolExecutor

    from .model import LetterRequest, PracticeDetails
    from .templates import LetterTemplate

log = logging.getLogger(__name__)
_lock = threading.Lock()
_pool: "ProcessPoolExecutor | None" = None
_enabled = False


def enable(on: bool = True) -> None:
    global _enabled
    _enabled = on
    if not on:
        shutdown()


def enabled() -> bool:
    return _enabled


def _executor() -> "ProcessPoolExecutor":
    global _pool
    with _lock:
        if _pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            _pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_start_renderer)
        return _pool


def _start_renderer() -> None:
    """Runs first in the renderer's process: fonts, and a watch on the window's process.

    The window ends the renderer at lock and quit; if the window crashes or is killed it
    cannot, and the renderer (with the names and addresses it last rendered in its memory)
    would live on with no window and no lock (hazard H-77). So a thread here waits on the
    parent's sentinel, which the OS signals when the parent process ends, and exits."""
    import multiprocessing
    import os

    from . import fonts

    fonts.register()
    parent = multiprocessing.parent_process()
    if parent is not None:
        def exit_with_parent() -> None:
            parent.join()
            os._exit(0)  # no clean-up to run: nothing here is written anywhere

        threading.Thread(target=exit_with_parent, name="exit-with-window", daemon=True).start()


def warm() -> None:
    """Start the process now (e.g. while a manager's screens are built), so the first
    preview does not wait for it. Does nothing unless enabled."""
    if _enabled:
        from concurrent.futures.process import BrokenProcessPool

        try:
            _executor().submit(int).result()
        except (BrokenProcessPool, OSError, RuntimeError):  # why: the first render tries again, else renders here
            shutdown()


def shutdown(*, wait: bool = True) -> None:
    """End the process (lock, quit) once it has finished the letters it is rendering, if any;
    the next render starts another. ``wait=False``: return at once while it finishes."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=wait, cancel_futures=True)


def render_bytes(requests: Sequence["LetterRequest"], practice: "PracticeDetails",
                 templates: Mapping[str, "LetterTemplate"] | None = None):
    """letters.render.render_bytes, in the renderer's process when enabled."""
    from . import render

    if not _enabled:
        return render.render_bytes(requests, practice, templates)
    from concurrent.futures.process import BrokenProcessPool

    try:
        return _executor().submit(render.render_bytes, list(requests), practice,
                                  dict(templates) if templates is not None else None).result()
    except (BrokenProcessPool, OSError) as exc:  # why: the process died or could not start: render here instead
        from ..problem_log import log_problem

        log_problem(log, "The letters' renderer process failed; rendering in the app instead", exc)
        shutdown()  # the process died (killed, out of memory): render here, as before
        return render.render_bytes(requests, practice, templates)
