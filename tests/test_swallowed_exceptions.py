"""No exception is swallowed without a reason: the rule kept by an AST check over the package.

An ``except ...: pass`` (or ``...``/``continue`` alone), a ``contextlib.suppress(...)``, and
an ``except Exception``/``BaseException``/bare ``except`` that neither re-raises nor logs
must say why on its own lines with a ``# why:`` comment. Everything else is expected to
handle the failure in words to the user or log it through ``problem_log.log_problem``
(never patient data).
"""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest

import gp_optout_desktop
from gp_optout_desktop import problem_log

PACKAGE = Path(gp_optout_desktop.__file__).parent
BROAD = {"Exception", "BaseException"}


def _has_why(lines: list[str], first: int, last: int) -> bool:
    return any("# why:" in lines[i - 1] for i in range(first, last + 1))


def _only_passes(body: list[ast.stmt]) -> bool:
    return all(isinstance(s, (ast.Pass, ast.Continue)) or
               (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and s.value.value is Ellipsis)
               for s in body)


def _raises_or_logs(body: list[ast.stmt]) -> bool:
    for node in ast.walk(ast.Module(body=body, type_ignores=[])):
        if isinstance(node, ast.Raise):
            return True
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in {"log_problem", "warning", "error", "exception", "critical"}:
                return True
    return False


def _catches_broadly(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(n, ast.Name) and n.id in BROAD for n in names)


def unexplained(source: str, name: str = "<source>") -> list[str]:
    """Each swallowed exception in ``source`` that does not say why, as 'name:line: what'."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ExceptHandler):
            span = (node.lineno, node.body[-1].end_lineno)
            if _only_passes(node.body) and not _has_why(lines, *span):
                found.append(f"{name}:{node.lineno}: except ...: pass without '# why:'")
            elif _catches_broadly(node) and not _raises_or_logs(node.body) and not _has_why(lines, *span):
                found.append(f"{name}:{node.lineno}: broad except neither re-raises nor logs, and has no '# why:'")
        elif isinstance(node, ast.With):
            for item in node.items:
                call = item.context_expr
                if (isinstance(call, ast.Call) and "suppress" in ast.unparse(call.func)
                        and not _has_why(lines, node.lineno, node.lineno)):
                    found.append(f"{name}:{node.lineno}: contextlib.suppress without '# why:'")
    return found


def test_every_swallowed_exception_in_the_package_says_why():
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        problems += unexplained(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE)))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("source", [
    "try:\n    f()\nexcept OSError:\n    pass\n",
    "for x in y:\n    try:\n        f()\n    except ValueError:\n        continue\n",
    "try:\n    f()\nexcept OSError:\n    ...\n",
    "try:\n    f()\nexcept Exception:\n    return_value = None\n",
    "try:\n    f()\nexcept:\n    x = 1\n",
    "import contextlib\nwith contextlib.suppress(OSError):\n    f()\n",
    "try:\n    f()\nexcept OSError:  # the reason is not marked\n    pass\n",
])
def test_the_check_finds_an_unexplained_swallow(source):
    assert len(unexplained(source)) == 1


@pytest.mark.parametrize("source", [
    "try:\n    f()\nexcept OSError:\n    pass  # why: already gone\n",
    "try:\n    f()\nexcept OSError:  # why: already gone\n    pass\n",
    "try:\n    f()\nexcept Exception as exc:\n    log_problem(log, 'x', exc)\n",
    "try:\n    f()\nexcept Exception:\n    cleanup()\n    raise\n",
    "try:\n    f()\nexcept ValueError as exc:\n    show_error(str(exc))\n",
    "import contextlib\nwith contextlib.suppress(OSError):  # why: optional\n    f()\n",
])
def test_the_check_accepts_a_handled_or_explained_exception(source):
    assert unexplained(source) == []


def _raise_oserror():
    raise OSError(28, "No space left on device: Zqxmarkerson.keys", "/home/Zqxmarkerson/register.keys")


def test_a_logged_problem_names_the_class_errno_and_place_never_the_message(caplog):
    caplog.set_level(logging.WARNING)
    try:
        _raise_oserror()
    except OSError as exc:
        problem_log.log_problem(logging.getLogger("gp_optout_desktop.test"), "The key file could not be saved", exc)
    (record,) = caplog.records
    text = record.getMessage()
    assert text.startswith("The key file could not be saved (OSError [ENOSPC] at ")
    assert "test_swallowed_exceptions.py" in text and "in _raise_oserror" in text
    assert "Zqxmarkerson" not in text and "No space left" not in text
    assert record.levelno == logging.WARNING


def test_the_desktop_log_file_is_beside_the_register_and_receives_problems(tmp_path):
    logger = logging.getLogger(problem_log.LOGGER_NAME)
    before = list(logger.handlers), logger.level, problem_log._log_file
    try:
        path = problem_log.start_file_log(tmp_path / "register")
        assert path == tmp_path / problem_log.LOG_NAME and problem_log.log_file() == path
        assert str(path) in problem_log.where_to_look()
        try:
            raise KeyError("9990000018")
        except KeyError as exc:
            problem_log.log_problem(logging.getLogger("gp_optout_desktop.ui.main_window"), "A screen failed", exc)
        for handler in logger.handlers:
            handler.flush()
        written = path.read_text(encoding="utf-8")
        assert "WARNING gp_optout_desktop.ui.main_window: A screen failed (KeyError at " in written
        assert "9990000018" not in written
    finally:
        for handler in logger.handlers[len(before[0]):]:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(before[1])
        problem_log._log_file = before[2]
