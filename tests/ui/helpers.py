"""Helpers shared by the GUI tests (fixtures live in conftest.py)."""


def wait_idle(qtbot, *screens, timeout=60000):
    """Wait until the screens' service calls have all answered."""
    qtbot.waitUntil(lambda: not any(screen.busy for screen in screens), timeout=timeout)
