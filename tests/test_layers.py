"""The layers the brief promises: SQL only in store/, Qt only in ui/ (a structural check, so a
query or a widget that slips into another layer is caught by the suite, not by a reviewer)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gp_optout_desktop"
SQL_CALLS = {"execute", "executemany", "executescript"}


def _modules(outside: str):
    for path in sorted(PACKAGE.rglob("*.py")):
        if outside not in path.relative_to(PACKAGE).parts[:1]:
            yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def test_no_sql_is_run_outside_store():
    found = [f"{path.relative_to(PACKAGE)}:{node.lineno}"
             for path, tree in _modules("store") for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQL_CALLS]
    assert found == []


def test_qt_is_imported_only_in_ui():
    found = []
    for path, tree in _modules("ui"):
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.relative_to(PACKAGE)}:{node.lineno}" for n in names if n.split(".")[0] == "PySide6"]
    assert found == []


def test_the_checks_see_the_layers_they_guard():
    """Guards the two tests above against passing on nothing: store/ runs SQL, ui/ imports Qt."""
    store_sql = sum(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in SQL_CALLS
                    for p in (PACKAGE / "store").rglob("*.py") for n in ast.walk(ast.parse(p.read_text("utf-8"))))
    ui_qt = sum(isinstance(n, ast.ImportFrom) and (n.module or "").startswith("PySide6")
                for p in (PACKAGE / "ui").rglob("*.py") for n in ast.walk(ast.parse(p.read_text("utf-8"))))
    assert store_sql > 50 and ui_qt > 10
