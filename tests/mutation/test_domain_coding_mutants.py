"""The coding rules a practice works to: when a coding task is late, and what the
practice-wide opt-out asks of each patient's record in every state it can be in."""
from __future__ import annotations

from datetime import date

import pytest

from gp_optout_desktop.domain import coding
from gp_optout_desktop.domain.coding import ADD, REMOVE, PracticeWide
from gp_optout_desktop.services.session import code_table


def item(due: date) -> coding.WorkItem:
    return coding.WorkItem(ref="E1", source=coding.INDIVIDUAL, op=ADD, patient_id=1, nhs_number="9434765919",
                           title="", forenames="Bo", surname="Test", dob=date(1980, 1, 1),
                           code=coding.practice_wide_code(code_table()), record_date=date(2026, 11, 2),
                           since=date(2026, 11, 2), due=due)


def test_a_task_is_late_only_after_its_due_day():
    task = item(due=date(2026, 11, 9))
    assert not task.overdue(date(2026, 11, 8))
    assert not task.overdue(date(2026, 11, 9))     # still in time on the day itself
    assert task.overdue(date(2026, 11, 10))


# (latest practice-wide row's op, was it confirmed, opted in, objects individually) -> what is asked
RULE = [
    (None, False, False, False, PracticeWide(None, None)),      # never touched by the opt-out
    (None, True, True, True, PracticeWide(None, None)),
    (ADD, False, False, True, PracticeWide(None, None)),        # their own objection stands: spared
    (REMOVE, False, False, True, PracticeWide(None, None)),
    (ADD, False, False, False, PracticeWide(ADD, True)),        # add listed, not yet seen coded
    (ADD, True, False, False, PracticeWide(None, True)),        # add coded: expect the code
    (ADD, False, True, False, PracticeWide(None, None)),        # opted in before the add went in
    (ADD, True, True, False, PracticeWide(REMOVE, False)),      # opted in after it went in: take it out
    (REMOVE, False, False, False, PracticeWide(REMOVE, False)),  # removal listed, not yet confirmed
    (REMOVE, True, False, False, PracticeWide(None, False)),    # removal confirmed
    (REMOVE, True, True, False, PracticeWide(None, False)),
]


@pytest.mark.parametrize("op, confirmed, opted_in, objects, asked", RULE)
def test_what_the_practice_wide_opt_out_asks_of_one_record(op, confirmed, opted_in, objects, asked):
    got = coding.practice_wide(op, confirmed, opted_in, objects)
    assert got == asked
    assert (got.task, got.expect) == (asked.task, asked.expect)   # None and False are different answers


def test_the_practice_wide_code_is_type1_dissent():
    code = coding.practice_wide_code(code_table())
    assert (code.objection, code.action, code.read_v2) == ("type1", "register", "9Nu0.")


@pytest.mark.parametrize("stamp, day", [
    ("2026-07-01T22:59:59+00:00", date(2026, 7, 1)),
    ("2026-07-01T23:00:00+00:00", date(2026, 7, 2)),   # BST: already the next UK day
    ("2026-12-01T23:30:00+00:00", date(2026, 12, 1)),  # GMT: still the same day
    ("2026-12-01T03:00:00+00:00", date(2026, 12, 1)),
])
def test_the_uk_day_of_a_stored_stamp(stamp, day):
    assert coding.uk_day(stamp) == day
