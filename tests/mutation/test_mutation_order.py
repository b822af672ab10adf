"""The mutation run's test order (scripts/mutation_order.py, a pytest plugin): a mutant's tests
run the ones that killed its function's earlier mutants first, then fastest first; it notes
each kill and each mutant's run, and a log it cannot write never fails a test run (a pytest
internal error would count as a kill). Run for real: pytest in a folder laid out as mutmut's
mutants/ folder, with the plugin."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUNC = "pkg.mod.x_parse"

TESTS = '''
import os

def test_fast():
    assert os.environ.get("BREAK") != "fast"

def test_slow():
    assert os.environ.get("BREAK") != "slow"
'''


@pytest.fixture
def mutants(tmp_path):
    (tmp_path / "test_some.py").write_text(TESTS)
    durations = {"test_some.py::test_fast": 0.01, "test_some.py::test_slow": 2.0}
    (tmp_path / "mutmut-stats.json").write_text(json.dumps({"duration_by_test": durations}))
    return tmp_path


def run(folder: Path, mutant: str, **env) -> subprocess.CompletedProcess:
    environ = dict(os.environ, MUTANT_UNDER_TEST=mutant, PYTHONPATH=str(ROOT / "scripts"), **env)
    if "MUTATION_ORDER" not in env:
        environ.pop("MUTATION_ORDER", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-x", "-v", "-p", "no:cacheprovider", "-p", "mutation_order",
                           "--rootdir", str(folder), "-c", os.devnull, "test_some.py"],
                          cwd=folder, env=environ, capture_output=True, text=True, timeout=120)


def order(result: subprocess.CompletedProcess) -> list[str]:
    return [ln.split("::")[1].split()[0] for ln in result.stdout.splitlines() if ln.startswith("test_some.py::")]


def test_without_kills_the_fastest_test_runs_first(mutants):
    assert order(run(mutants, f"{FUNC}__mutmut_1")) == ["test_fast", "test_slow"]


def test_a_test_that_killed_this_functions_mutants_runs_first(mutants):
    (mutants / "mutation-kills.log").write_text(f"{FUNC}\ttest_some.py::test_slow\n"
                                                "pkg.mod.x_other\ttest_some.py::test_fast\n")
    assert order(run(mutants, f"{FUNC}__mutmut_2")) == ["test_slow", "test_fast"]
    # another function's kills do not count, and MUTATION_ORDER=duration leaves kills out
    assert order(run(mutants, "pkg.mod.x_third__mutmut_1")) == ["test_fast", "test_slow"]
    assert order(run(mutants, f"{FUNC}__mutmut_2", MUTATION_ORDER="duration")) == ["test_fast", "test_slow"]


def test_a_kill_is_noted_with_the_test_that_failed_and_each_run_with_its_tests(mutants):
    result = run(mutants, f"{FUNC}__mutmut_3", BREAK="slow")
    assert result.returncode == 1
    assert (mutants / "mutation-kills.log").read_text() == f"{FUNC}\ttest_some.py::test_slow\n"
    mutant, status, tests, stats_seconds, _wall = (mutants / "mutation-runs.log").read_text().split("\t")
    assert (mutant, status, tests, stats_seconds) == (f"{FUNC}__mutmut_3", "1", "2", "2.010")
    # the next mutant of that function starts with the test that killed this one, and stops there
    assert order(run(mutants, f"{FUNC}__mutmut_4", BREAK="slow")) == ["test_slow"]


def test_outside_a_mutant_nothing_is_noted(mutants):
    assert run(mutants, "", BREAK="fast").returncode == 1      # mutmut's stats or forced-fail run
    assert not (mutants / "mutation-kills.log").exists()
    assert not (mutants / "mutation-runs.log").exists()


def test_a_log_that_cannot_be_written_does_not_change_the_outcome(mutants):
    (mutants / "mutation-kills.log").mkdir()    # opening it for writing fails
    (mutants / "mutation-runs.log").mkdir()
    assert run(mutants, f"{FUNC}__mutmut_5").returncode == 0       # a survivor stays a survivor
    assert run(mutants, f"{FUNC}__mutmut_6", BREAK="fast").returncode == 1   # a kill, not an internal error (3)
