"""The register check after unlock, shown in the status bar, and on demand (ADR 0011)."""

from conftest import make_window, unlock

from gp_optout_desktop.services import integrity


def test_check_runs_after_unlock_and_on_demand(qtbot, demo_folder, settings):
    window = make_window(qtbot, demo_folder, settings)
    session = unlock(qtbot, window, "reception")
    status = window.integrity
    qtbot.waitUntil(lambda: "no damage found" in status.label.text(), timeout=15000)
    assert status.button.isEnabled() and status.label.styleSheet() == ""
    assert integrity.last(session).ok
    status.button.click()
    assert status.label.text() == "Checking the register..." or "full check" in status.label.text()
    qtbot.waitUntil(lambda: "full check" in status.label.text(), timeout=15000)
    with session.register.reading() as conn:
        details = [r[0] for r in conn.execute("SELECT detail FROM audit WHERE action = 'register.check'")]
    assert [d.split(" seconds")[0] for d in details] == ["quick after unlock", "full on demand"]
    window.lock()
    assert status.label.text() == "" and not status.button.isEnabled()


def _damage_a_page_unlock_does_not_read(folder):
    from gp_optout_desktop.services import session as session_service

    db = folder / "register.db"
    original = db.read_bytes()
    for page in range(len(original) // 4096 - 1, 1, -1):
        data = bytearray(original)
        data[page * 4096 + 200] ^= 0xFF
        db.write_bytes(bytes(data))
        try:
            session_service.unlock(folder, "reception", "reception-demo-pass").register.close()
        except Exception:  # noqa: BLE001 - read at unlock: try the next page
            continue
        return
    raise AssertionError("every page was read at unlock")


def test_a_failed_check_turns_the_line_red_and_blocks_changes(qtbot, demo_folder, settings):
    import pytest

    from gp_optout_desktop.services import objections
    from gp_optout_desktop.store.errors import RegisterCorrupt

    _damage_a_page_unlock_does_not_read(demo_folder)
    window = make_window(qtbot, demo_folder, settings)
    session = unlock(qtbot, window, "reception")
    status = window.integrity
    qtbot.waitUntil(lambda: "Changes are blocked" in status.label.text(), timeout=15000)
    assert "b00020" in status.label.styleSheet() and "Restore the latest backup" in status.label.text()
    with pytest.raises(RegisterCorrupt, match="Restore the latest backup"):
        objections.record(session, 1)
    window.lock()
