"""Recording objections at the desk: each refusal in the words a receptionist acts on, on the
field the form highlights; each current state in words; and dates that decide what a new
event may do (an event is checked against the state on its own effective date)."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from gp_optout_desktop.domain import codes
from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.domain.events import (
    INCLUDE, NDOO_SIGNPOST, Event, Proxy, Status, all_statuses, check_new_event, check_type2_in_error,
    current_status,
)

TODAY = date(2026, 12, 1)
CUTOFF = date(2018, 10, 11)
AT = datetime(2026, 3, 9, 10, tzinfo=timezone.utc)


def ev(kind, action, effective: date, seq: int = 1, via="desk") -> Event:
    return Event(kind, action, effective, effective, via, "reception", AT, seq=seq)


def refused(message: str, field: str, **kw) -> None:
    args = dict(kind=codes.TYPE1, action=codes.REGISTER, effective=TODAY, received=TODAY, via="desk",
                today=TODAY, existing=[], type2_cutoff=CUTOFF)
    args.update(kw)
    with pytest.raises(ValidationError) as err:
        check_new_event(**args)
    assert str(err.value) == message
    assert err.value.field == field


def test_unknown_type_action_and_way_received_are_named():
    refused("Unknown objection type 'type3'.", "type", kind="type3")
    refused("Unknown action 'cancel' (register or withdraw).", "action", action="cancel")
    refused("How was it received? One of: desk, post, email, phone.", "via", via="fax")


def test_dates_in_the_future_are_refused_on_their_own_field():
    refused("The effective date cannot be in the future.", "effective", effective=date(2026, 12, 2))
    refused("The date received cannot be in the future.", "received", received=date(2026, 12, 2))


def test_a_new_type2_is_refused_in_full_with_the_signpost():
    refused("A new Type 2 objection cannot be recorded: Type 2 codes added to the record after 11 Oct 2018 are not "
            "processed, whatever date the form was signed, and Type 2 never stopped GP data leaving the practice. "
            "Tell the patient it cannot be recorded and that the National Data Opt-out replaced it (or record a "
            "Type 1 objection if that is what they want). " + NDOO_SIGNPOST,
            "type", kind=codes.TYPE2, effective=date(2017, 5, 1))


def test_registering_twice_and_withdrawing_nothing_say_the_current_state():
    objects = [ev(codes.TYPE1, codes.REGISTER, date(2025, 5, 1))]
    refused("Already recorded: Objects to their GP data leaving the practice, since 1 May 2025.", "action",
            existing=objects)
    refused("Nothing to withdraw: No Type 1 objection recorded.", "action", action=codes.WITHDRAW)
    refused("Nothing to withdraw: Has not asked to be included.", "action", kind=INCLUDE, action=codes.WITHDRAW)


def test_a_withdrawal_dated_before_the_objection_it_would_withdraw_is_refused():
    objects = [ev(codes.TYPE1, codes.REGISTER, date(2025, 5, 1))]
    refused("Nothing to withdraw: No Type 1 objection recorded.", "action", action=codes.WITHDRAW,
            effective=date(2025, 4, 30), received=date(2025, 4, 30), existing=objects)
    check_new_event(codes.TYPE1, codes.WITHDRAW, date(2025, 5, 1), date(2025, 5, 1), "post", TODAY, objects, CUTOFF)


@pytest.mark.parametrize("kind, events, words", [
    (INCLUDE, [], "Has not asked to be included"),
    (INCLUDE, [ev(INCLUDE, codes.REGISTER, date(2025, 6, 1))],
     "Asked to be included despite the practice-wide opt-out, since 1 Jun 2025"),
    (codes.TYPE1, [], "No Type 1 objection recorded"),
    (codes.TYPE1, [ev(codes.TYPE1, codes.REGISTER, date(2025, 5, 1)), ev(codes.TYPE1, codes.WITHDRAW, date(2025, 9, 3), 2)],
     "Does not object (Type 1 objection withdrawn 3 Sep 2025)"),
    (codes.TYPE2, [], "No Type 2 objection recorded"),
    (codes.TYPE2, [ev(codes.TYPE2, codes.REGISTER, date(2017, 5, 1))], "Legacy Type 2 objection recorded, since 1 May 2017"),
    (codes.TYPE2, [ev(codes.TYPE2, codes.REGISTER, date(2017, 5, 1)), ev(codes.TYPE2, codes.WITHDRAW, date(2019, 1, 2), 2)],
     "No Type 2 objection (withdrawn 2 Jan 2019)"),
])
def test_each_current_state_in_words(kind, events, words):
    assert current_status(events, kind).describe() == words


def test_no_events_is_a_plain_inactive_state_of_that_kind():
    assert current_status([], codes.TYPE2) == Status(codes.TYPE2, False, None, None)
    assert current_status([], codes.TYPE2).active is False


def test_all_states_as_they_were_on_a_past_date():
    events = [ev(codes.TYPE1, codes.REGISTER, date(2025, 5, 1)), ev(INCLUDE, codes.REGISTER, date(2025, 6, 1), 2)]
    then = all_statuses(events, as_of=date(2025, 5, 31))
    assert then[codes.TYPE1].active and not then[INCLUDE].active and not then[codes.TYPE2].active
    assert all_statuses(events)[INCLUDE].active


def test_type2_in_error_is_refused_for_a_type2_added_by_the_cut_off():
    added = [Event(codes.TYPE2, codes.REGISTER, date(2017, 5, 1), date(2018, 10, 11), "import", "import", AT)]
    with pytest.raises(ValidationError) as err:
        check_type2_in_error(added, CUTOFF)
    assert str(err.value) == (
        "This patient's Type 2 objection was added to the record on 11 Oct 2018, on or before 11 Oct 2018, so it was "
        "converted to the National Data Opt-out: it was not recorded in error. " + NDOO_SIGNPOST)
    assert err.value.field == "type"


@pytest.mark.parametrize("changes, message, field", [
    (dict(role="neighbour"), "Unknown proxy role 'neighbour'. Choose one of: parental_responsibility, legal_guardian, "
                             "lpa_health_welfare, lpa_property_financial, court_deputy.", "proxy_role"),
    (dict(name="  "), "A proxy must be named.", "proxy_name"),
    (dict(evidence=""), "Record the evidence seen for the proxy (e.g. an OPG 'VALIDATED-OPG' stamp or access code).",
     "proxy_evidence"),
    (dict(verified_by=" "), "Record who verified the proxy's evidence.", "proxy_verified_by"),
])
def test_a_proxy_needs_a_known_role_a_name_evidence_and_a_verifier(changes, message, field):
    fields = dict(role="legal_guardian", name="Alex Test", evidence="court order seen", verified_by="reception")
    with pytest.raises(ValidationError) as err:
        Proxy(**dict(fields, **changes))
    assert (str(err.value), err.value.field) == (message, field)
    assert Proxy(**fields).name == "Alex Test"
