"""A pytest plugin for the mutation run only (scripts/mutation.py passes ``-p mutation_order``):
each mutant's tests run fastest first, by the durations mutmut measured in its clean stats
run (mutants/mutmut-stats.json), so a mutant a quick test notices stops there (-x) instead
of after whichever slow register-building tests mutmut happened to list first. Each mutant
still runs the same tests; only a survivor runs them all, as before."""
from __future__ import annotations

import json
from pathlib import Path


def pytest_collection_modifyitems(session, config, items):
    stats = Path("mutmut-stats.json")   # pytest runs in mutants/, where mutmut keeps it
    try:
        durations = json.loads(stats.read_text())["duration_by_test"]
    except (OSError, ValueError, KeyError, TypeError):
        return   # the stats run itself, before the file exists: mutmut's own order
    items.sort(key=lambda item: durations.get(item.nodeid, float("inf")))
