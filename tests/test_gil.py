"""gil.offering: a long pure-Python loop on a task thread hands the GIL to waiting threads as
it goes (issue 13, ADR 0014 addendum 6), without changing what it loops over."""

from __future__ import annotations

import time

from gp_optout_desktop import gil


def test_the_items_are_unchanged_and_the_gil_is_offered_every_so_many(monkeypatch):
    offers = []
    real_sleep = time.sleep
    monkeypatch.setattr(time, "sleep", lambda s: offers.append(s) or real_sleep(s))
    items = [(n, str(n)) for n in range(1001)]
    assert list(gil.offering(items, every=100)) == items
    assert offers == [0] * 10
    assert list(gil.offering(iter([]))) == [] and offers == [0] * 10


def test_an_error_in_the_loop_body_stops_the_loop_where_it_was():
    seen = []
    try:
        for n in gil.offering(range(500), every=7):
            seen.append(n)
            if n == 123:
                raise ValueError("stop")
    except ValueError:
        pass
    assert seen == list(range(124))
