"""``mutmut run`` as scripts/mutation.py starts it (in a module's scratch copy), without mutmut's
clean test run, and noting how long each step before the first mutant took.

mutmut runs a module's tests three times before its first mutant: the stats run (every test of
the module's row, tracing which functions each reaches), the clean run (the tests of the chosen
mutants again, unmutated) and the forced-fail run. The clean run only checks that those tests
pass on the unmutated code; the stats run has just run them all, unmutated, and mutmut stops
there when one fails ("failed to collect stats"), so the second pass decides nothing. It cost a
whole pass of the module's tests, once per module (store/audit.py: its 115 tests again).
Everything else is mutmut's own ``run``. The steps' times go to mutation-phases.log (in the
scratch copy), which scripts/mutation.py's report reads.

    python scripts/mutation_mutmut.py run --max-children N [mutant globs ...]
"""
from __future__ import annotations

import functools
import os
import sys
import time

# Run as a file, Python puts scripts/ first on sys.path; nothing here should be imported from there.
if sys.path and sys.path[0].rstrip("/").endswith("scripts"):
    del sys.path[0]

from mutmut.workers import isolation  # noqa: E402

PHASES = os.path.abspath("mutation-phases.log")   # mutmut runs in the scratch copy, where this starts


def _clean_run_already_done(self, tests) -> int:
    return 0   # the stats run passed on these tests, unmutated, or mutmut stopped before this


def _timed(name, func):
    @functools.wraps(func)
    def timed(*args, **kwargs):
        start = time.monotonic()
        try:
            return func(*args, **kwargs)
        finally:
            try:
                with open(PHASES, "a") as log:
                    log.write(f"{name}\t{time.monotonic() - start:.1f}\n")
            except OSError:
                pass   # only a figure for the report

    return timed


isolation.ForkRunner.run_clean_tests = _clean_run_already_done

if __name__ == "__main__":
    import mutmut.__main__ as mutmut_main

    for step in ("create_mutants", "run_stats_collection", "run_forced_fail_test"):
        setattr(mutmut_main, step, _timed(step, getattr(mutmut_main, step)))
    mutmut_main.cli()
