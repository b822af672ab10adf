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
        "assert 'reportlab.pdfgen.canvas' in sys.modules or 'reportlab' in sys.modules\n"
        "from PySide6.QtWidgets import QApplication\n"
        "assert QApplication.instance() is None\n"
        "print(len(names))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) >= 9
