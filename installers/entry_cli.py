"""Frozen entry point for the command line (PyInstaller)."""
import sys

from gp_optout_desktop.cli import main

sys.exit(main())
