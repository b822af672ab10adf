"""``mutmut run`` as scripts/mutation.py starts it (in a module's scratch copy), without mutmut's
clean test run.

mutmut runs a module's tests three times before its first mutant: the stats run (every test of
the module's row, tracing which functions each reaches), the clean run (the tests of the chosen
mutants again, unmutated) and the forced-fail run. The clean run only checks that those tests
pass on the unmutated code; the stats run has just run them all, unmutated, and mutmut stops
there when one fails ("failed to collect stats"), so the second pass decides nothing. It cost a
whole pass of the module's tests, once per module (store/audit.py: its 115 tests again).
Everything else is mutmut's own ``run``.

    python scripts/mutation_mutmut.py run --max-children N [mutant globs ...]
"""
from __future__ import annotations

import sys

# Run as a file, Python puts scripts/ first on sys.path; nothing here should be imported from there.
if sys.path and sys.path[0].rstrip("/").endswith("scripts"):
    del sys.path[0]

from mutmut.workers import isolation  # noqa: E402



def _clean_run_already_done(self, tests) -> int:
    return 0   # the stats run passed on these tests, unmutated, or mutmut stopped before this


isolation.ForkRunner.run_clean_tests = _clean_run_already_done

if __name__ == "__main__":
    from mutmut.__main__ import cli

    cli()
