"""A pytest plugin for the mutation run only (scripts/mutation.py passes ``-p mutation_order``):
the order a mutant's tests run in. With -x a killed mutant stops at its first failing test, so
the order decides what a kill costs; a survivor runs every test whatever the order.

First the tests that have already killed other mutants of the same function in this run
(most kills first: mutants of one function are mostly noticed by the same few tests, often a
slow one written for them), then the rest fastest first, by the durations mutmut measured in
its stats run (mutants/mutmut-stats.json). Each mutant still runs the same tests; only their
order changes. MUTATION_ORDER=duration leaves out the first part (to compare the two).

In mutants/ it keeps two logs, appended by the forked test runs themselves (one short line per
write with O_APPEND, so two runs at once do not interleave):
- mutation-kills.log: a killed mutant's function and the test that failed (read back above);
- mutation-runs.log: per mutant, the tests it ran, their time in the stats run, and its own
  time: where a module's time goes (scripts/mutation.py's report sums it).
"""
from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

STATS = Path("mutmut-stats.json")    # pytest runs in mutants/, where mutmut keeps it
KILLS = Path("mutation-kills.log")
RUNS = Path("mutation-runs.log")

_durations: dict[str, float] = {}
_ran = {"tests": 0, "stats_seconds": 0.0, "start": 0.0}


def _mutant() -> str:
    """The mutant under test ("" outside a mutant's run: stats, clean, forced fail)."""
    name = os.environ.get("MUTANT_UNDER_TEST", "")
    return name if "__mutmut_" in name else ""


def _function(mutant: str) -> str:
    return mutant.partition("__mutmut_")[0]


def _append(path: Path, line: str) -> None:
    # Never an error here: pytest would report it as an internal error, which mutmut counts as
    # a kill. A line lost only costs a later mutant the better order or the figures.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    except OSError:
        pass


def _kills_of(function: str) -> Counter:
    try:
        lines = KILLS.read_text().splitlines()
    except OSError:
        return Counter()
    return Counter(test for func, _, test in (ln.partition("\t") for ln in lines) if func == function and test)


def pytest_sessionstart(session):
    _ran["start"] = time.monotonic()


def pytest_collection_modifyitems(session, config, items):
    try:
        _durations.update(json.loads(STATS.read_text())["duration_by_test"])
    except (OSError, ValueError, KeyError, TypeError):
        return   # the stats run itself, before the file exists: mutmut's own order
    mutant = _mutant()
    kills = _kills_of(_function(mutant)) if mutant and os.environ.get("MUTATION_ORDER") != "duration" else Counter()
    items.sort(key=lambda item: (-kills.get(item.nodeid, 0), _durations.get(item.nodeid, float("inf"))))


def pytest_runtest_logreport(report):
    mutant = _mutant()
    if not mutant:
        return
    if report.when == "teardown":
        _ran["tests"] += 1
        _ran["stats_seconds"] += _durations.get(report.nodeid, 0.0)
    if report.failed:
        _append(KILLS, f"{_function(mutant)}\t{report.nodeid}\n")


def pytest_sessionfinish(session, exitstatus):
    mutant = _mutant()
    if mutant:
        _append(RUNS, f"{mutant}\t{int(exitstatus)}\t{_ran['tests']}\t{_ran['stats_seconds']:.3f}\t"
                      f"{time.monotonic() - _ran['start']:.3f}\n")
