"""The Qt bridge for live desks (ui/live_bridge.py): a real watcher on the real cluster, desk A
writing, and the bridge's signals arriving on the UI thread, where a screen may touch widgets."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QCoreApplication, QThread

from gp_optout_desktop.services import live
from gp_optout_desktop.ui.live_bridge import LiveBridge
from tests.server import practices as P


@pytest.fixture
def practice(pg_db):
    admin = P.init(pg_db)
    admin.autocommit = True
    p = P.new_practice(pg_db, admin, "A", logins=2)
    yield admin, p
    admin.close()


def test_changes_and_states_arrive_on_the_ui_thread(qtbot, pg_db, practice):
    admin, prac = practice
    desk_a = P.started(pg_db, prac)
    login, password = prac.logins[1]
    bridge = LiveBridge()
    ui_thread = QCoreApplication.instance().thread()
    seen_changes, seen_states = [], []
    bridge.changed.connect(lambda rev, ids: seen_changes.append((rev, ids, QThread.currentThread() == ui_thread)))
    bridge.state_changed.connect(lambda s, m: seen_states.append((s, m, QThread.currentThread() == ui_thread)))
    with qtbot.waitSignal(bridge.state_changed, timeout=5000, check_params_cb=lambda s, m: s == live.LIVE):
        watcher = bridge.watch(lambda: P.connect(pg_db, login, password))
    try:
        assert bridge.state == live.LIVE
        with qtbot.waitSignal(bridge.changed, timeout=5000) as blocker:  # the 1 s bound: test_server_live.py
            pid = P.add(desk_a, P.patient("Bridge", nhs="9990000018"))
        assert blocker.args == [desk_a.revision(), [pid]]
        # The listening connection is dropped: the desk is told, on the UI thread, then it is back.
        [backend] = [r[0] for r in admin.execute("SELECT pid FROM pg_stat_activity WHERE usename = %s", (login,))]
        with qtbot.waitSignal(bridge.state_changed, timeout=5000,
                              check_params_cb=lambda s, m: s == live.DISCONNECTED) as blocker:
            admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
        assert blocker.args == [live.DISCONNECTED, "Server unreachable - nothing can be saved until it is back"]
        qtbot.waitUntil(lambda: bridge.state == live.LIVE, timeout=5000)
        assert watcher.reconnects == 1
    finally:
        bridge.stop()
    assert seen_changes == [(desk_a.revision(), [pid], True)]
    assert [s for s, _m, _t in seen_states] == [live.CONNECTING, live.LIVE, live.DISCONNECTED, live.LIVE]
    assert all(on_ui for _s, _m, on_ui in seen_states)
