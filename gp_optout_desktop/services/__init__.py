"""The one write path: every operation checks permission, validates, writes in one
transaction with its audit rows, and returns a ChangeSet saying what changed.
The CLI and the desktop app both call these functions; neither writes SQL.
"""
