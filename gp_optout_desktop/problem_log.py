"""What the program could not do and carried on without, written to the log (never patient data).

A failure the program works around (a key file it could not update on lock, a screen that
would not build, a temp file it could not remove) is not shown as an error to the user when
the work they asked for was done, but it must not vanish: it is logged here. Only the
exception's class, its errno name and where it was raised (file, line, function) are
written, never its message or arguments: a message may quote a name, an NHS number or an
address. The words passed as ``what`` are fixed text from the code, never data.

Without a handler (the CLI, the tests) Python writes warnings to standard error; the
desktop app adds a log file beside the register folder (``start_file_log``).
"""

from __future__ import annotations

import errno
import logging
import logging.handlers
import traceback
from pathlib import Path

LOGGER_NAME = "gp_optout_desktop"
LOG_NAME = "gp-optout-desktop.log"
MAX_LOG_BYTES = 1_000_000
KEPT_LOGS = 3
_FRAMES_SHOWN = 3

_log_file: Path | None = None


def where(exc: BaseException) -> str:
    """``OSError [ENOSPC] at store/keyfile.py:210 in save <- store/register.py:138 in close``:
    the class, the errno name and the innermost frames; never the message."""
    name = type(exc).__name__
    code = getattr(exc, "errno", None)
    if isinstance(code, int) and code in errno.errorcode:
        name += f" [{errno.errorcode[code]}]"
    frames = traceback.extract_tb(exc.__traceback__)[-_FRAMES_SHOWN:]
    if not frames:
        return name
    return f"{name} at " + " <- ".join(f"{_short(f.filename)}:{f.lineno} in {f.name}" for f in reversed(frames))


def _short(filename: str) -> str:
    parts = Path(filename).parts
    if "gp_optout_desktop" in parts:
        return "/".join(parts[len(parts) - 1 - parts[::-1].index("gp_optout_desktop") + 1:])
    return Path(filename).name


def log_problem(log: logging.Logger, what: str, exc: BaseException) -> None:
    """Log ``what`` (fixed words from the code) with where ``exc`` came from, at WARNING."""
    log.warning("%s (%s)", what, where(exc))


def start_file_log(register_folder: Path) -> Path | None:
    """The desktop app's log: ``gp-optout-desktop.log`` beside the register folder (the same
    place as its window lock), rotated at 1 MB, three kept. None when it cannot be opened;
    problems then go to standard error, which is said there once."""
    global _log_file
    path = Path(register_folder).absolute().parent / LOG_NAME
    if path == _log_file:
        return path
    log = logging.getLogger(LOGGER_NAME)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_LOG_BYTES, backupCount=KEPT_LOGS,
                                                       encoding="utf-8")
    except OSError as exc:
        log_problem(log, "The log file could not be opened; problems are written to standard error instead", exc)
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    _log_file = path
    return path


def log_file() -> Path | None:
    """Where problems are written, if the desktop app opened its log file."""
    return _log_file


def where_to_look() -> str:
    """Words for a message to the user: where the details of a problem were written."""
    return f"the program's log ({_log_file})" if _log_file else "the program's error output"
