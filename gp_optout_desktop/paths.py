"""Where the bundled resources live: inside the package (gp_optout_desktop/resources), so a
source checkout, an editable install, a built wheel and a PyInstaller bundle all find them
the same way, through importlib.resources."""

from __future__ import annotations

import atexit
import contextlib
from functools import cache
from importlib import resources as _resources
from pathlib import Path


@cache
def resources_dir() -> Path:
    root = _resources.files("gp_optout_desktop") / "resources"
    if isinstance(root, Path):
        return root
    # A zipped install has no real folder: reportlab needs font files on disk, so the
    # folder is extracted once for the life of the process.
    stack = contextlib.ExitStack()
    atexit.register(stack.close)
    return Path(stack.enter_context(_resources.as_file(root)))


def resource(*parts: str) -> Path:
    return resources_dir().joinpath(*parts)
