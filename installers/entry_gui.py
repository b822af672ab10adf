"""Frozen entry point for the desktop app (PyInstaller)."""
import multiprocessing
import sys

from gp_optout_desktop.ui.app import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # letters.render uses a process pool (spawn on Windows)
    sys.exit(main())
