"""Received or in force, in words, from the deciding event's coding state: 'stays in the
practice' only when the Type 1 code is confirmed; what is pending and who does it otherwise."""

from __future__ import annotations

from datetime import date, datetime, timezone

from gp_optout_desktop.domain import codes
from gp_optout_desktop.domain.events import INCLUDE, Event, all_statuses
from gp_optout_desktop.domain.in_force import (
    IN_FORCE, NONE, RECEIVED, STAYS, WITHDRAWAL_RECEIVED, WITHDRAWN, coding_words, gp_data_words, received_words,
    type1_standing,
)

DAY = date(2026, 3, 2)
AT = datetime(2026, 3, 9, 10, tzinfo=timezone.utc)


def _event(kind=codes.TYPE1, action=codes.REGISTER, seq=1, coded=False, confirmed=False) -> Event:
    return Event(kind, action, DAY, DAY, "desk", "reception", AT, seq=seq, event_id=seq,
                 coded_at=AT if coded else None, coded_by="Sam Desk" if coded else None,
                 confirmed_at=AT if confirmed else None, confirmed_by="reconciliation 4" if confirmed else None)


def _standing(*events, practice_wide_on=False):
    return gp_data_words(all_statuses(list(events)), practice_wide_on=practice_wide_on)


def test_each_state_in_words():
    pending = type1_standing(all_statuses([_event()])[codes.TYPE1])
    assert pending.state == RECEIVED and not pending.in_force and pending.awaiting_code
    assert STAYS not in pending.words and "can still be extracted" in pending.words
    assert pending.pending.startswith("Pending: the practice manager adds the code in the clinical system")

    marked = _standing(_event(coded=True))
    assert marked.state == RECEIVED and "marked coded by Sam Desk on 9 Mar 2026, not yet confirmed" in marked.words
    assert STAYS not in marked.words and "next reconciliation" in marked.pending

    confirmed = _standing(_event(confirmed=True))
    assert confirmed.state == IN_FORCE and confirmed.in_force and confirmed.pending == ""
    assert confirmed.words.startswith(f"{STAYS}: the Type 1 code was confirmed in the clinical system on 9 Mar 2026")

    withdrawing = _standing(_event(confirmed=True), _event(action=codes.WITHDRAW, seq=2))
    assert withdrawing.state == WITHDRAWAL_RECEIVED and "still keeps their GP data out" in withdrawing.words
    withdrawn = _standing(_event(confirmed=True), _event(action=codes.WITHDRAW, seq=2, confirmed=True))
    assert withdrawn.state == WITHDRAWN and withdrawn.words.startswith("Their GP data may be extracted")
    assert _standing().state == NONE


def test_type2_alone_and_the_practice_wide_opt_out_never_claim_the_data_stays():
    type2 = _standing(_event(kind=codes.TYPE2, confirmed=True))
    assert "never stopped that" in type2.words and STAYS not in type2.words
    wide = _standing(practice_wide_on=True)
    assert "only once the practice-wide code is confirmed" in wide.words and STAYS not in wide.words
    included = _standing(_event(kind=INCLUDE), practice_wide_on=True)
    assert included.words.startswith("Their GP data may be extracted: they asked to be included")
    own = _standing(_event(confirmed=True), practice_wide_on=True)  # their own objection decides
    assert own.state == IN_FORCE


def test_history_cell_and_recording_summary():
    assert coding_words(_event()) == "Not yet coded"
    assert coding_words(_event(coded=True)) == "Marked coded by Sam Desk on 9 Mar 2026, not yet confirmed"
    assert coding_words(_event(confirmed=True)) == "Confirmed 9 Mar 2026 (reconciliation 4)"
    imported = Event(codes.TYPE1, codes.REGISTER, DAY, DAY, "import", "pm", AT, confirmed_at=AT, confirmed_by="import")
    assert coding_words(imported) == "Confirmed 9 Mar 2026 (an import from the clinical system)"
    words = received_words(codes.TYPE1, codes.REGISTER)
    assert words.startswith("Received, not yet in force: the objection") and "reconciliation" in words
    assert "never stopped extraction" in received_words(codes.TYPE2, codes.REGISTER)
