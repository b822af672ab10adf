"""Guard against the PySide6 6.12.0 / CPython 3.11 refcount bug: each Signal.emit() dropped a
reference to True and each processEvents() one to None, aborting the app after a few
thousand signals (a front desk emits that many in a morning). A Qt upgrade that brings it
back fails here instead of at the desk."""

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    fired = Signal(object)


def test_signals_and_event_processing_keep_true_and_none_alive(qapp):
    emitter = _Emitter()
    received = []
    emitter.fired.connect(received.append)
    true_before, none_before = sys.getrefcount(True), sys.getrefcount(None)
    for i in range(3000):
        emitter.fired.emit(i)
        qapp.processEvents()
    assert len(received) == 3000
    # Immortal objects on 3.12+ report a constant; on 3.11 the count must not fall steadily.
    assert sys.getrefcount(True) >= true_before - 50
    assert sys.getrefcount(None) >= none_before - 50
