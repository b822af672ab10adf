"""The screens' modules are imported off the UI thread while the password is checked (ui/warm.py)."""

import subprocess
import sys


def test_warming_imports_every_screen_module_without_making_widgets():
    """In a process with no QApplication at all (a widget made at import would abort it),
    import_screens brings in every screen's module, so building them after unlock imports nothing."""
    code = (
        "import sys\n"
        "from gp_optout_desktop.ui import warm\n"
        "from gp_optout_desktop.ui.screens import SCREENS\n"
        "warm.import_screens()\n"
        "names = [s.create.__qualname__.rsplit('.', 1)[0] for s in SCREENS]\n"
        "missing = [n for n in names if f'gp_optout_desktop.ui.screens.{n}' not in sys.modules]\n"
        "assert not missing, missing\n"
        "assert 'gp_optout_desktop.ui.screens.letter_templates' in sys.modules  # the Letters screen's tab\n"
        "assert 'reportlab.pdfgen.canvas' in sys.modules or 'reportlab' in sys.modules\n"
        "from PySide6.QtWidgets import QApplication\n"
        "assert QApplication.instance() is None\n"
        "print(len(names))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) >= 9


def test_the_warm_imports_wait_until_argon2_has_released_its_memory(monkeypatch):
    """The modules' memory is kept for good: imported while Argon2id holds its 128-192 MiB, the
    two stacked in the process's peak (issue 13). The imports start only once the unlock's
    Argon2id run (begun after the mark) has returned, or the unlock ended without one."""
    import threading

    from gp_optout_desktop.store import keyfile
    from gp_optout_desktop.ui import warm

    imported = threading.Event()
    held_while_importing = []
    monkeypatch.setattr(warm, "import_screens",
                        lambda: (held_while_importing.append(keyfile.ARGON2_GATE.running), imported.set()))
    warm._released.clear()
    mark = warm.mark()
    derived = threading.Event()

    def unlock():  # what the unlock worker does: an Argon2id run (the fixture's cheap parameters)
        keyfile.derive_kek("pm-password-1", b"s" * 16, keyfile.KDF_DEFAULTS)
        derived.set()

    with keyfile.ARGON2_GATE.held():  # the unlock's span: held until its Argon2 runs are done
        waiter = threading.Thread(target=warm._after_argon2, args=(mark,))
        waiter.start()
        assert not imported.wait(0.3), "imported while no Argon2id run had finished"
        runner = threading.Thread(target=unlock)
        runner.start()
        assert derived.wait(10)
        assert not imported.wait(0.3), "imported while the unlock's span still held Argon2id's memory"
    assert imported.wait(5) and held_while_importing == [0]
    waiter.join(5)
    runner.join(5)

    # An unlock refused before any Argon2id run (throttled): released by the unlock screen.
    imported.clear()
    waiter = threading.Thread(target=warm._after_argon2, args=(warm.mark(),))
    waiter.start()
    assert not imported.wait(0.2)
    warm.release()
    assert imported.wait(5)
    waiter.join(5)
    warm._released.clear()


def test_the_session_is_handed_on_only_once_the_warm_imports_are_done(monkeypatch):
    """Building a screen whose module the warm-up is still importing would wait on the UI
    thread: the unlock screen hands the session on through when_done."""
    from gp_optout_desktop.ui import warm

    monkeypatch.setattr(warm, "_started", True)
    monkeypatch.setattr(warm, "_done", False)
    monkeypatch.setattr(warm, "_waiting", [])
    handed = []
    warm.when_done(lambda: handed.append("first"))
    assert handed == [], "handed on while the imports were still running"
    warm._finished()
    assert handed == ["first"]
    warm.when_done(lambda: handed.append("later"))  # a later unlock in the same process: at once
    assert handed == ["first", "later"]
