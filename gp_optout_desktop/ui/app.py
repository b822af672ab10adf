"""Entry point of the desktop app: ``python -m gp_optout_desktop.ui.app [--register PATH]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ORGANISATION = "gp-optout"
APPLICATION = "gp-optout-desktop"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gp-optout-desktop", description="The GP objection register desktop app.")
    parser.add_argument("--register", type=Path, default=None,
                        help="the register folder (default: the user's data folder, or $GP_OPTOUT_REGISTER)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from ..cli import default_register
    from .main_window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("GP objection register")
    folder = args.register or default_register()
    window = MainWindow(folder, QSettings(ORGANISATION, APPLICATION), app=app)
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
