"""The status bar's line about the exclusion file.

The service that knows (services.exclusion) is written by another developer; this
is the one place the window asks, so only this function changes when it lands.
"""

from __future__ import annotations

import importlib


def describe(session) -> str:
    try:
        exclusion = importlib.import_module("gp_optout_desktop.services.exclusion")
    except ImportError:
        return "Exclusion file: status not available in this version"
    status = getattr(exclusion, "status", None)
    if status is None:
        return "Exclusion file: status not available in this version"
    try:
        result = status(session)
    except Exception as exc:  # noqa: BLE001 - a status line must never break the window
        return f"Exclusion file: status unknown ({exc.__class__.__name__})"
    # Accept either plain words or an object that describes itself.
    if isinstance(result, str):
        text = result
    else:
        describe_fn = getattr(result, "describe", None)
        text = describe_fn() if callable(describe_fn) else str(result)
    return text if text.lower().startswith("exclusion") else f"Exclusion file: {text}"
