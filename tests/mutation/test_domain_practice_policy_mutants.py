"""The practice-wide opt-out as a GP changes it: which change is in force on a day (latest
effective date, then entry order), and each refusal in words on the field it concerns."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.domain.practice_policy import OFF, ON, PolicyChange, check_change, current_policy, is_on

TODAY = date(2026, 12, 1)
AT = datetime(2026, 3, 9, 10, tzinfo=timezone.utc)


def change(state, effective, seq, reason="practice meeting") -> PolicyChange:
    return PolicyChange(state, effective, reason, "dr.test", AT, seq)


HISTORY = [change(ON, date(2026, 1, 5), 1), change(OFF, date(2026, 6, 1), 2), change(ON, date(2026, 6, 1), 3)]


def test_the_change_in_force_is_the_latest_effective_then_the_last_entered():
    assert current_policy(HISTORY) is HISTORY[2]
    assert current_policy(list(reversed(HISTORY))) is HISTORY[2]
    assert current_policy(HISTORY, as_of=date(2026, 5, 31)) is HISTORY[0]
    assert current_policy(HISTORY, as_of=date(2026, 1, 4)) is None
    assert current_policy([]) is None


def test_on_or_off_on_a_given_day():
    assert is_on(HISTORY) and is_on(HISTORY, as_of=date(2026, 1, 5))
    assert not is_on(HISTORY, as_of=date(2026, 1, 4)) and not is_on([])
    assert not is_on(HISTORY[:2])


@pytest.mark.parametrize("state, reason, effective, history, message, field", [
    ("paused", "why", TODAY, [], "The practice-wide opt-out is either 'on' or 'off'.", "state"),
    (ON, "  ", TODAY, [], "Give a reason for changing the practice-wide opt-out.", "reason"),
    (ON, "why", date(2026, 12, 2), [], "The effective date cannot be in the future.", "effective"),
    (ON, "why", TODAY, HISTORY, "The practice-wide opt-out is already on.", "state"),
    (OFF, "why", TODAY, [], "The practice-wide opt-out is already off.", "state"),
])
def test_each_refused_change_says_why(state, reason, effective, history, message, field):
    with pytest.raises(ValidationError) as err:
        check_change(state, reason, effective, TODAY, history)
    assert (str(err.value), err.value.field) == (message, field)


def test_turning_it_off_when_on_and_on_when_off_is_allowed():
    check_change(OFF, "lifted after review", TODAY, TODAY, HISTORY)
    check_change(ON, "practice meeting", TODAY, TODAY, HISTORY[:2])
