"""Frozen entry point for the command line (PyInstaller)."""
import multiprocessing
import sys

from gp_optout_desktop.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # letters.render uses a process pool (spawn on Windows)
    sys.exit(main())
