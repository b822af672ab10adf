"""Entry point of the desktop app: ``python -m gp_optout_desktop.ui.app [--register PATH | --database URL]``.

``--database postgresql://...`` (or GP_OPTOUT_DATABASE) opens a sign-in to a server register
instead of the register folder, which stays the default (docs/server-setup.md section 6)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

ORGANISATION = "gp-optout"
APPLICATION = "gp-optout-desktop"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gp-optout-desktop", description="The GP objection register desktop app.")
    parser.add_argument("--register", type=Path, default=None,
                        help="the register folder (default: the user's data folder, or $GP_OPTOUT_REGISTER)")
    parser.add_argument("--database", default=None, metavar="URL",
                        help="a server register: postgresql://HOST/DATABASE?sslrootcert=CA-FILE "
                             "(default: $GP_OPTOUT_DATABASE; without either, the register folder)")
    return parser.parse_args(argv)


ALREADY_OPEN = "Already open"


class _NoLock:
    """Where no lock file can be written (a read-only parent folder): run unguarded rather
    than refuse to start; the register itself then says what is wrong."""

    def unlock(self) -> None:
        pass


def window_lock(folder: Path):
    """One window per register on this computer: a second would keep its own idle lock and
    session beside the first. Returns the held lock, or None while another live window
    holds it (a crashed window's lock is taken over: QLockFile checks the process)."""
    from PySide6.QtCore import QLockFile

    folder = Path(folder).absolute()
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # why: run unguarded rather than refuse to start; the register then says what is wrong
        from ..problem_log import log_problem

        log_problem(logging.getLogger(__name__), "No window lock could be made beside the register folder", exc)
        return _NoLock()
    lock = QLockFile(str(folder.parent / f".{folder.name}.window-lock"))
    lock.setStaleLockTime(0)  # never stale by age: only when its process is gone
    if lock.tryLock(200):
        return lock
    return None if lock.error() == QLockFile.LockError.LockFailedError else _NoLock()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from ..cli import default_register
    from . import responsive
    from .main_window import MainWindow

    responsive.tune()

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("GP objection register")
    folder = args.register or default_register()
    server = server_address(args.database)
    if server is False:
        return 2
    if server is not None:
        return _run(app, MainWindow(None, QSettings(ORGANISATION, APPLICATION), app=app, server=server), folder)
    lock = window_lock(folder)
    if lock is None:
        from . import dialogs

        dialogs.inform(None, ALREADY_OPEN, "This register is already open in another window on this computer "
                                           "(it may be minimised or locked). Use that window.")
        return 1
    try:
        return _run(app, MainWindow(folder, QSettings(ORGANISATION, APPLICATION), app=app), folder)
    finally:
        lock.unlock()


def server_address(arg: str | None):
    """The server named by --database or GP_OPTOUT_DATABASE (None: the register folder); False,
    after saying why in one sentence, when the address is refused (nothing is sent)."""
    from ..store.errors import StoreError
    from ..store.server import connect

    try:
        return connect.address_from(arg)
    except StoreError as exc:
        from . import dialogs

        dialogs.inform(None, "Server register", str(exc))
        return False


def _run(app, window, folder: Path) -> int:
    """Show the window and run until it closes. The problem log (no patient data) is kept
    beside the register folder, or the default one on a server register."""
    from ..problem_log import start_file_log
    from . import responsive

    start_file_log(folder)
    window.show()
    try:
        return app.exec()
    finally:
        responsive.forget()


if __name__ == "__main__":
    sys.exit(main())
