"""Guard against the PySide6 6.12.0 / CPython 3.11 refcount bug: each Signal.emit() dropped a
reference to True and each processEvents() one to None, aborting the app after a few
thousand signals (a front desk emits that many in a morning). A Qt upgrade that brings it
back fails here instead of at the desk.

What proves it depends on the interpreter. On 3.11, True and None are ordinary objects: their
counts must not fall. On 3.12 and later they are immortal (PEP 683): never freed, and their
count is not meaningful (code built for the stable ABI, as PySide6's is, moves it; on 3.13 it
drifts by one per processEvents() with PySide6 6.11.3 and is harmless). There the test proves
they are immortal, so no drop can free them, and, on every version, that a signal keeps the
count of an ordinary (mortal) object it carries exactly balanced."""

import sys

from PySide6.QtCore import QObject, Signal

ROUNDS = 3000
IMMORTAL_SINGLETONS = sys.version_info >= (3, 12)


class _Emitter(QObject):
    fired = Signal(object)


def _is_immortal(obj) -> bool:
    check = getattr(sys, "_is_immortal", None)  # 3.14+
    if check is not None:
        return check(obj)
    # 3.12/3.13 on 64-bit: immortal objects start at 2**32 - 1 and are never freed while the
    # count stays above 2**31; no session emits two billion signals.
    return sys.getrefcount(obj) >= 2**31


def test_signals_and_event_processing_keep_true_and_none_alive(qapp):
    emitter = _Emitter()
    seen = [0]

    def slot(value):
        seen[0] += 1

    emitter.fired.connect(slot)
    payload = object()  # mortal on every version: a dropped or leaked reference shows exactly
    payload_before = sys.getrefcount(payload)
    true_before, none_before = sys.getrefcount(True), sys.getrefcount(None)
    for _ in range(ROUNDS):
        assert emitter.fired.emit(payload) in (True, None)
        qapp.processEvents()
    assert seen[0] == ROUNDS
    assert sys.getrefcount(payload) == payload_before, "a signal leaked or dropped references to its argument"
    if IMMORTAL_SINGLETONS:
        assert _is_immortal(True) and _is_immortal(None)
    else:
        assert sys.getrefcount(True) >= true_before - 50
        assert sys.getrefcount(None) >= none_before - 50
