"""scripts/run-mutation's module table names real files: a renamed module or test file must
fail here, not silently drop out of the mutation run (docs/mutation-testing.md)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mutation():
    spec = importlib.util.spec_from_file_location("run_mutation_table", ROOT / "scripts" / "mutation.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    yield mod
    del sys.modules[spec.name]


def test_every_module_and_test_file_in_the_table_exists(mutation):
    for name, module in mutation.MODULES.items():
        for rel in module.files:
            assert (ROOT / "gp_optout_desktop" / rel).is_file(), (name, rel)
        assert module.tests, name
        for test in module.tests:
            assert (ROOT / test).exists(), (name, test)


def test_every_python_file_of_domain_and_exclusion_is_in_the_table(mutation):
    listed = {rel for module in mutation.MODULES.values() for rel in module.files}
    for folder in ("domain", "exclusion"):
        for path in (ROOT / "gp_optout_desktop" / folder).glob("*.py"):
            if path.name == "__init__.py":
                continue
            assert f"{folder}/{path.name}" in listed, path


def test_function_filters_name_functions_that_exist(mutation):
    # "Session.require" must stay a method of a listed file, else the permission module
    # would silently mutate nothing.
    module = mutation.MODULES["permissions"]
    globs = mutation.mutant_globs(module)
    assert len(globs) == len(module.functions)
    assert any("Session\u01c1require" in g for g in globs)


def test_a_prefix_selects_every_module_under_it_and_nothing_else(mutation):
    chosen = mutation.select(["exclusion/"])
    assert chosen and all(n.startswith("exclusion/") for n in chosen)
    assert mutation.select(["gp_optout_desktop/domain/ods.py"]) == ["domain/ods.py"]
    with pytest.raises(SystemExit):
        mutation.select(["domain/no_such_module.py"])
