"""Long pure-Python loops on a task thread offer the GIL to other threads as they go.

A thread that wants the GIL from one running Python waits up to the switch interval (1 ms in
the desktop app) each time; the UI thread wants it a dozen times a keystroke, so a task that
runs Python for long stretches (hashing 15,000 imported rows for the register's digest,
building their states) made typing wait tens of milliseconds (issue 13, ADR 0014 addendum 6).
Statements give the GIL up while SQLite runs them; these loops run none. ``offering`` gives
it up between items instead: ``time.sleep(0)`` releases it for a system call, and a thread
waiting for it takes it then. About a microsecond per ``EVERY`` items when nobody waits.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
EVERY = 200  # items between offers: well under a millisecond of any loop that uses it


def offering(items: Iterable[T], every: int = EVERY) -> Iterator[T]:
    """``items`` unchanged, with the GIL offered to waiting threads every ``every`` items."""
    for n, item in enumerate(items, 1):
        yield item
        if n % every == 0:
            time.sleep(0)
