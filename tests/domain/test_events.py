"""Latest event wins (effective date, then entry order); a withdrawal means not objecting."""

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, strategies as st

from gp_optout_desktop.domain import codes
from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.domain.events import Event, Proxy, check_new_event, current_status

CUTOFF = date(2018, 10, 11)
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def ev(action, effective, seq, kind=codes.TYPE1):
    return Event(kind, action, effective, effective, "desk", "pm", NOW, seq=seq)


def test_withdrawal_after_dissent_means_not_objecting():
    history = [ev(codes.REGISTER, date(2014, 1, 6), 1), ev(codes.WITHDRAW, date(2015, 3, 1), 2)]
    status = current_status(history, codes.TYPE1)
    assert status.active is False
    assert "withdrawn" in status.describe()


def test_re_objection_after_withdrawal_objects_again():
    history = [ev(codes.REGISTER, date(2014, 1, 6), 1), ev(codes.WITHDRAW, date(2015, 3, 1), 2),
               ev(codes.REGISTER, date(2016, 2, 2), 3)]
    status = current_status(history, codes.TYPE1)
    assert status.active and status.since == date(2016, 2, 2)
    assert status.describe() == "Objects to their GP data leaving the practice, since 2 Feb 2016"


def test_same_effective_date_is_decided_by_entry_order():
    day = date(2020, 5, 5)
    assert not current_status([ev(codes.REGISTER, day, 1), ev(codes.WITHDRAW, day, 2)], codes.TYPE1).active
    assert current_status([ev(codes.WITHDRAW, day, 1), ev(codes.REGISTER, day, 2)], codes.TYPE1).active


def test_a_backdated_entry_does_not_override_a_later_effective_event():
    history = [ev(codes.WITHDRAW, date(2020, 1, 1), 1), ev(codes.REGISTER, date(2019, 1, 1), 2)]
    assert not current_status(history, codes.TYPE1).active


def test_types_are_independent():
    history = [ev(codes.REGISTER, date(2014, 1, 6), 1, codes.TYPE2)]
    assert current_status(history, codes.TYPE2).active
    assert not current_status(history, codes.TYPE1).active


histories = st.lists(
    st.tuples(st.sampled_from([codes.REGISTER, codes.WITHDRAW]),
              st.integers(min_value=0, max_value=60)), min_size=1, max_size=25)


@given(histories)
def test_latest_event_wins_in_any_entry_order(items):
    events = [ev(action, date(2014, 1, 1) + timedelta(days=offset), seq)
              for seq, (action, offset) in enumerate(items, start=1)]
    latest = sorted(events, key=lambda e: (e.effective, e.seq))[-1]
    status = current_status(list(reversed(events)), codes.TYPE1)
    assert status.active == (latest.action == codes.REGISTER)
    assert status.since == latest.effective
    # Counting events would be wrong: withdrawals are never objections.
    assert status.active is not (latest.action == codes.WITHDRAW)


def test_new_type2_after_cutoff_is_refused_with_ndoo_signposting():
    with pytest.raises(ValidationError) as err:
        check_new_event(codes.TYPE2, codes.REGISTER, date(2018, 10, 12), date(2018, 10, 12), "desk",
                        date(2026, 1, 1), [], CUTOFF)
    assert "National Data Opt-out" in str(err.value) and "0300 303 5678" in str(err.value)


@pytest.mark.parametrize("keyed_on, allowed", [
    (date(2018, 10, 10), True),   # the day before the cut-off
    (CUTOFF, True),               # on the cut-off day
    (date(2018, 10, 12), False),  # the day after
    (date(2026, 1, 1), False),    # today
])
def test_type2_cutoff_is_on_the_day_the_code_is_added_not_the_day_signed(keyed_on, allowed):
    """A form signed in 2016 (effective and received then) but keyed on ``keyed_on``: the code is
    added on the day it is keyed, so only that day counts (domain brief section 8)."""
    signed = date(2016, 5, 1)
    if allowed:
        check_new_event(codes.TYPE2, codes.REGISTER, signed, signed, "post", keyed_on, [], CUTOFF)
    else:
        with pytest.raises(ValidationError, match="added to the record after 11 Oct 2018.*whatever date the form "
                                                  "was signed.*National Data Opt-out"):
            check_new_event(codes.TYPE2, codes.REGISTER, signed, signed, "post", keyed_on, [], CUTOFF)


def test_withdrawing_a_legacy_type2_stays_possible_after_the_cutoff():
    held = [Event(codes.TYPE2, codes.REGISTER, date(2016, 5, 1), date(2016, 5, 1), "import", "pm", NOW, seq=1)]
    check_new_event(codes.TYPE2, codes.WITHDRAW, date(2026, 1, 1), date(2026, 1, 1), "desk", date(2026, 1, 1),
                    held, CUTOFF)


def test_date_added_is_the_clinical_systems_date_for_imports_and_the_keying_day_otherwise():
    imported = Event(codes.TYPE2, codes.REGISTER, date(2016, 5, 1), date(2017, 2, 3), "import", "pm", NOW)
    keyed = Event(codes.TYPE2, codes.REGISTER, date(2016, 5, 1), date(2016, 5, 1), "post", "pm",
                  datetime(2018, 10, 11, 15, tzinfo=timezone.utc))
    assert imported.added_on == date(2017, 2, 3) and keyed.added_on == date(2018, 10, 11)


@pytest.mark.parametrize("added, allowed", [
    (date(2018, 10, 10), False), (CUTOFF, False), (date(2018, 10, 12), True)])
def test_recorded_in_error_letter_only_for_a_type2_added_after_the_cutoff(added, allowed):
    from gp_optout_desktop.domain.events import check_type2_in_error

    held = [Event(codes.TYPE2, codes.REGISTER, date(2016, 5, 1), added, "import", "pm", NOW, seq=1)]
    if allowed:
        check_type2_in_error(held, CUTOFF)
    else:
        with pytest.raises(ValidationError, match="converted to the National Data Opt-out: it was not recorded in error"):
            check_type2_in_error(held, CUTOFF)
    check_type2_in_error([], CUTOFF)  # no Type 2 at all: the desk refused one, so the letter is right


@pytest.mark.parametrize("action, history, message", [
    (codes.WITHDRAW, [], "Nothing to withdraw"),
    (codes.REGISTER, [ev(codes.REGISTER, date(2014, 1, 6), 1)], "Already recorded"),
])
def test_pointless_events_are_refused(action, history, message):
    with pytest.raises(ValidationError, match=message):
        check_new_event(codes.TYPE1, action, date(2020, 1, 1), date(2020, 1, 1), "desk", date(2026, 1, 1),
                        history, CUTOFF)


def test_future_dates_and_unknown_channels_are_refused():
    with pytest.raises(ValidationError, match="future"):
        check_new_event(codes.TYPE1, codes.REGISTER, date(2027, 1, 1), date(2026, 1, 1), "desk", date(2026, 1, 1), [], CUTOFF)
    with pytest.raises(ValidationError, match="received"):
        check_new_event(codes.TYPE1, codes.REGISTER, date(2026, 1, 1), date(2026, 1, 1), "pigeon", date(2026, 1, 1), [], CUTOFF)


def test_a_proxy_needs_role_name_evidence_and_verifier():
    Proxy("lpa_health_welfare", "Jo Bloggs", "VALIDATED-OPG stamp", "pm")
    with pytest.raises(ValidationError):
        Proxy("neighbour", "Jo", "x", "pm")
    with pytest.raises(ValidationError, match="evidence"):
        Proxy("court_deputy", "Jo", " ", "pm")
