"""Received or in force, in the exact words the desk, the letters' notes and the CLI show
for each state a patient can be in: what happens to their GP data, what is still to do and
who does it. One table, every state, every word (the same words appear on three surfaces,
so a changed word is a changed promise to a patient)."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from gp_optout_desktop.domain import codes
from gp_optout_desktop.domain.events import INCLUDE, Event, all_statuses
from gp_optout_desktop.domain.in_force import (
    IN_FORCE, NONE, RECEIVED, WHO_CODES, WHO_CONFIRMS, WITHDRAWAL_RECEIVED, WITHDRAWN, Standing, coding_words,
    gp_data_words, letter_words, marked_words, received_words, type1_standing,
)

DAY = date(2026, 3, 2)
AT = datetime(2026, 3, 9, 23, 30, tzinfo=timezone.utc)


def event(kind=codes.TYPE1, action=codes.REGISTER, seq=1, coded=False, confirmed=False, by="Sam Desk") -> Event:
    return Event(kind, action, DAY, DAY, "desk", "reception", AT, seq=seq, event_id=seq,
                 coded_at=AT if coded else None, coded_by=by if coded else None,
                 confirmed_at=AT if confirmed else None, confirmed_by="reconciliation 4" if confirmed else None)


def standing(*events, practice_wide_on=False) -> Standing:
    return gp_data_words(all_statuses(list(events)), practice_wide_on=practice_wide_on)


NOT_YET = ("Not yet in force: national extractions read the code in the clinical record, and it is not "
           "confirmed there, so until then their GP data can still be extracted.")
WD_NOT_YET = ("Not yet in force: any Type 1 code already in their clinical record still keeps their GP data out "
              "of national extractions until the withdrawal code is confirmed.")

TYPE1_STATES = [
    ((), Standing(NONE, None, "No Type 1 objection",
                  "Their GP data may be extracted: no Type 1 objection is recorded.")),
    ((event(),), Standing(RECEIVED, "pending", "Received, not yet in force",
                          f"Objection received. {NOT_YET}", f"Pending: {WHO_CODES}.")),
    ((event(coded=True),), Standing(
        RECEIVED, "marked", "Received, not yet in force (marked coded, not confirmed)",
        f"Objection received; marked coded by Sam Desk on 9 Mar 2026, not yet confirmed. {NOT_YET}",
        f"Pending: {WHO_CONFIRMS}.")),
    ((event(confirmed=True),), Standing(
        IN_FORCE, "confirmed", "In force",
        "Their GP data stays in the practice: the Type 1 code was confirmed in the clinical system on 9 Mar 2026, "
        "so national extractions leave them out (except for direct care and what Type 1 does not stop).")),
    ((event(confirmed=True), event(action=codes.WITHDRAW, seq=2)), Standing(
        WITHDRAWAL_RECEIVED, "pending", "Withdrawal received, not yet in force",
        f"Withdrawal received. {WD_NOT_YET}", f"Pending: {WHO_CODES}.")),
    ((event(confirmed=True), event(action=codes.WITHDRAW, seq=2, coded=True)), Standing(
        WITHDRAWAL_RECEIVED, "marked", "Withdrawal received, not yet in force",
        f"Withdrawal received; marked coded by Sam Desk on 9 Mar 2026, not yet confirmed. {WD_NOT_YET}",
        f"Pending: {WHO_CONFIRMS}.")),
    ((event(confirmed=True), event(action=codes.WITHDRAW, seq=2, confirmed=True)), Standing(
        WITHDRAWN, "confirmed", "Withdrawn",
        "Their GP data may be extracted: the withdrawal was confirmed in the clinical system on 9 Mar 2026.")),
]


@pytest.mark.parametrize("events, expected", TYPE1_STATES)
def test_each_type1_state_in_the_desks_words(events, expected):
    got = type1_standing(all_statuses(list(events))[codes.TYPE1])
    assert got == expected
    assert got.in_force == (expected.state == IN_FORCE)
    assert got.awaiting_code == (expected.state in (RECEIVED, WITHDRAWAL_RECEIVED))


WIDE = Standing(NONE, None, "Practice-wide opt-out",
                "The practice-wide opt-out is on. National extractions leave them out only once the practice-wide "
                "code is confirmed in their clinical record; the practice's own extracts leave them out now.",
                f"Pending, unless already done: {WHO_CODES}.")


def test_with_the_practice_wide_opt_out_on_and_no_type1_of_their_own():
    assert standing(practice_wide_on=True) == WIDE
    withdrawn = (event(confirmed=True), event(action=codes.WITHDRAW, seq=2, confirmed=True))
    assert standing(*withdrawn, practice_wide_on=True) == Standing(
        WITHDRAWN, "confirmed", WIDE.label, WIDE.words, WIDE.pending)


def test_asked_to_be_included_while_the_practice_wide_opt_out_is_on():
    assert standing(event(kind=INCLUDE), practice_wide_on=True) == Standing(
        NONE, None, "Asked to be included",
        "Their GP data may be extracted: they asked to be included despite the practice-wide opt-out.")
    # With the opt-out lifted, an old include-me request says nothing of its own.
    assert standing(event(kind=INCLUDE)) == TYPE1_STATES[0][1]


def test_their_own_type1_decides_over_the_practice_wide_opt_out():
    assert standing(event(), practice_wide_on=True) == TYPE1_STATES[1][1]


def test_a_legacy_type2_alone_never_keeps_data_in_the_practice():
    assert standing(event(kind=codes.TYPE2)) == Standing(
        NONE, None, "Legacy Type 2 only",
        "Their GP data may be extracted from the practice: a legacy Type 2 objection never stopped that (it asked "
        "NHS Digital not to pass data on). For more, a Type 1 objection, or the National Data Opt-out set by the "
        "patient.")


def test_the_code_cell_of_a_history_row():
    assert coding_words(event()) == "Not yet coded"
    assert coding_words(event(coded=True, by=None)) == "Marked coded by someone on 9 Mar 2026, not yet confirmed"
    assert marked_words(event(coded=True)) == "marked coded by Sam Desk on 9 Mar 2026, not yet confirmed"
    unnamed = Event(codes.TYPE1, codes.REGISTER, DAY, DAY, "desk", "reception", AT, confirmed_at=AT)
    assert coding_words(unnamed) == "Confirmed 9 Mar 2026"


@pytest.mark.parametrize("kind, action, what", [
    (codes.TYPE1, codes.REGISTER, "the objection"),
    (codes.TYPE1, codes.WITHDRAW, "the withdrawal"),
    (INCLUDE, codes.REGISTER, "the request"),
    (INCLUDE, codes.WITHDRAW, "the withdrawal"),
])
def test_what_the_desk_says_straight_after_recording(kind, action, what):
    assert received_words(kind, action) == (
        f"Received, not yet in force: {what} takes effect in national extractions only once its code is confirmed "
        f"in the clinical system. Next: {WHO_CODES}.")


def test_after_recording_a_legacy_type2():
    assert received_words(codes.TYPE2, codes.REGISTER) == (
        "Received: a legacy Type 2 objection never stopped extraction from the practice; signpost the National "
        "Data Opt-out.")


def test_the_queued_letter_note():
    assert letter_words(date(2026, 3, 16)) == (
        "A letter is queued (due by 16 Mar 2026): it acknowledges receipt while the code is pending and confirms "
        "once the code is in force.")
