"""The overview on both engines (ADR 0015): the same data gives every tile the same figure
from a register file and from a practice on the PostgreSQL server.

``overview_work`` is one script of desk work with the overview read after each stage; it runs
on each engine with the same clock, and every Overview it reads must be equal."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from gp_optout_desktop.domain import codes
from gp_optout_desktop.services import letters, objections, overview, patients
from tests.services.conftest import Backend

START = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)


def overview_work(backend: Backend, out: Path) -> list[overview.Overview]:
    session = backend.manager
    offset = [timedelta()]
    seconds = itertools.count()
    session.clock = lambda: START + offset[0] + timedelta(seconds=next(seconds))
    seen = [overview.overview(session)]

    def add(surname, nhs, dob="1970-05-05"):
        return patients.add(session, surname=surname, forenames="Sam", nhs=nhs, dob=dob, postcode_raw="LS1 4AP",
                            address=["1 Leaf Lane", "Leeds"]).data["patient_id"]

    def first_event(pid):
        return patients.view(session, pid).history[0].event_id

    coded, confirmed = add("Coded", "9990000018"), add("Confirmed", "9990000026")
    unlisted, withdrawn = add("Nonumber", None), add("Withdrawn", "9990000034")
    legacy, left = add("Legacy", "9990000042"), add("Left", "9990000050")
    add("Nothing", "9990000069")
    objections.record(session, coded, effective=date(2025, 11, 10), received=date(2025, 11, 10))
    objections.record(session, confirmed, effective=date(2026, 1, 5), received=date(2026, 1, 5))
    objections.record(session, unlisted)
    objections.record(session, withdrawn, effective=date(2025, 12, 1), received=date(2025, 12, 1))
    objections.record(session, withdrawn, action=codes.WITHDRAW)
    offset[0] = datetime(2018, 5, 1, 9, 30, tzinfo=timezone.utc) - START  # keyed before the Type 2 cut-off
    objections.record(session, legacy, kind=codes.TYPE2)
    offset[0] = timedelta()
    objections.record(session, left)
    seen.append(overview.overview(session))

    objections.mark_coded(session, first_event(coded))
    backend.confirm(confirmed)
    backend.deduct(left, date(2026, 3, 1))
    seen.append(overview.overview(session))

    offset[0] = timedelta(days=27)  # the three recorded today are due within the week
    seen.append(overview.overview(session))
    # Printed: acknowledgements for the unconfirmed, each promising a confirmation held until
    # its code is confirmed; the confirmed patient's confirmation goes at once.
    letters.print_batch(session, out / "batch.pdf")
    seen.append(overview.overview(session))
    backend.confirm(coded)  # its held confirmation becomes ready to send
    offset[0] = timedelta(days=80)  # every letter still to send past its deadline
    seen.append(overview.overview(session))
    return seen


@pytest.mark.server
def test_every_tile_of_the_overview_is_equal_on_both_engines_for_the_same_data(both_engines, tmp_path):
    engines = both_engines
    file_seen, server_seen = [], []
    for engine, seen in zip(engines, (file_seen, server_seen)):
        (tmp_path / engine.name).mkdir()
        seen.extend(overview_work(engine, tmp_path / engine.name))
    assert len(file_seen) == len(server_seen) == 6
    for i, (a, b) in enumerate(zip(file_seen, server_seen)):
        assert a == b, f"stage {i}"
    # What the script must have exercised, so equal is not equal-and-empty.
    empty, recorded, coded, soon, printed, late = file_seen[:6]
    assert empty.patients == 0 and empty.timeline == []
    assert recorded.patients == 7
    assert recorded.objecting == {codes.TYPE1: 4, codes.TYPE2: 1}
    assert recorded.withdrawn == {codes.TYPE1: 1, codes.TYPE2: 0}
    assert recorded.objecting_without_nhs == 1
    assert recorded.letters_pending == 7 and recorded.letters_overdue == 4 and recorded.letters_due_soon == 0
    assert [p.label for p in recorded.timeline] == [str(y) for y in range(2018, 2027)]
    assert recorded.timeline[-1].objecting_at_end == 5 and recorded.timeline[-2].objections == 2
    assert recorded.type1_received == 4 and recorded.withdrawals_not_confirmed == 1
    assert recorded.coding_pending == 7
    assert (coded.type1_in_force, coded.type1_received, coded.type1_marked) == (1, 3, 1)
    assert coded.coding_pending == 5  # the confirmed one and the deducted patient's are not to code
    assert soon.letters_due_soon == 3
    assert (printed.letters_pending, printed.letters_held) == (2, 4)
    assert (late.letters_pending, late.letters_overdue, late.letters_held) == (3, 3, 3)
    assert late.policy is None and late.reconciliation is None


def test_the_overview_after_the_practice_wide_opt_out_on_either_engine(backend, add_patient):
    """The practice-wide code to key is counted on either engine (the server keeps the code rows
    since its server schema V6; before, its overview said "not available" here)."""
    session = backend.manager
    add_patient(session)
    backend.practice_optout_on(session.today())
    shown = overview.overview(session)
    assert shown.policy_on and shown.coding_pending == 1
