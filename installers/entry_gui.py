"""Frozen entry point for the desktop app (PyInstaller)."""
import sys

from gp_optout_desktop.ui.app import main

sys.exit(main())
