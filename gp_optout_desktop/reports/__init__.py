"""Printable lists that are not letters (the coding checklist)."""
