"""The collector after a task (issue 13, ADR 0014): what a task leaves alive (its answer)
is frozen out of the collector's walks when the last task ends, so the first collection
after it does not walk it all in one go with the GIL held; reference cycles a task left as
garbage are still freed, at the lock. No timings here: the figures are in
benchmarks/bench_ui.py."""

from __future__ import annotations

import gc
import weakref

import pytest

from gp_optout_desktop.ui import responsive, worker


class _Row:
    """Stands in for a task's answer (an export's rows, a reconciliation's findings)."""


@pytest.fixture
def collector():
    """The collector as an unlocked window has it (responsive.settled); locked after."""
    was = gc.isenabled()
    gc.enable()
    responsive.settled()
    yield
    responsive.forget()
    if not was:
        gc.disable()


def _run(qtbot, fn):
    answers = []
    worker.run(fn, answers.append, answers.append)
    qtbot.waitUntil(lambda: bool(answers), timeout=20000)
    return answers[0]


def _walked(obj) -> bool:
    """Whether the collector's generations hold ``obj`` (frozen objects are in none of them)."""
    return any(o is obj for o in gc.get_objects())


def test_a_tasks_answer_is_out_of_the_collectors_walks_after_it(qtbot, collector):
    rows = _run(qtbot, lambda: [_Row() for _ in range(1000)])
    assert len(rows) == 1000 and gc.is_tracked(rows)
    assert gc.isenabled()  # the collector runs by itself again ...
    assert not _walked(rows) and not _walked(rows[0])  # ... without walking the answer
    later = [_Row()]  # made after the task: walked as usual
    assert _walked(later)


def test_what_the_screen_makes_of_the_answer_is_out_of_the_walks_too(qtbot, collector):
    """A screen's copy of the answer (a table model's list of 100,000 findings), made on the
    UI thread when the answer comes: the first young collection after it walked that list with
    the GIL held, 7-11 ms, on whichever thread allocated next (the desk's search)."""
    made = []
    worker.run(lambda: [_Row() for _ in range(1000)], lambda rows: made.append(list(rows)), made.append)
    qtbot.waitUntil(lambda: bool(made), timeout=20000)
    assert not _walked(made[0]) and gc.isenabled()
    later = [_Row()]  # made after the answer was handled: walked as usual
    assert _walked(later)


def test_cycles_a_task_left_are_freed_at_the_lock(qtbot, collector):
    def task():
        a, b = _Row(), _Row()
        a.other, b.other = b, a  # a cycle: only the collector frees it
        return weakref.ref(a)

    left = _run(qtbot, task)
    gc.collect()
    assert left() is not None  # frozen with the rest of what the task left, while unlocked
    responsive.forget()  # the lock
    gc.collect()
    assert left() is None


def test_while_locked_a_tasks_leftovers_are_walked_as_usual(qtbot, collector):
    """A task run while locked (the unlock itself) freezes nothing: garbage a closed session
    left (unfrozen at its lock) is collected, not frozen again for the next session."""
    responsive.forget()
    rows = _run(qtbot, lambda: [_Row() for _ in range(10)])
    assert _walked(rows)
