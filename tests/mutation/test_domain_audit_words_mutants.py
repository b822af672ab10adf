"""The audit trail in words, as a practice manager or an auditor reads it on the audit
screen: every action named, refusals and newer actions still readable, NHS numbers grouped
3-3-4, records without a number named as such, details as short phrases."""
from __future__ import annotations

import pytest

from gp_optout_desktop.domain import audit_words


def test_a_known_action_reads_as_its_sentence():
    assert audit_words.action_words("type1.register") == "Recorded a Type 1 objection"
    assert audit_words.action_words("letter.print") == "Printed letters"


def test_a_refusal_names_what_was_refused():
    assert audit_words.action_words("denied.rekey") == "Was refused: rekey"
    assert audit_words.action_words("denied.exclusion_export") == "Was refused: exclusion export"


def test_an_action_newer_than_this_table_is_still_readable():
    assert audit_words.action_words("letter.archive_old") == "Letter: archive old"
    assert audit_words.action_words("sync") == "Sync"


@pytest.mark.parametrize("ref, shown", [
    ("", ""),
    ("9434765919", "943 476 5919"),
    ("id:42", "record 42 (no NHS number)"),
    ("id:1234567", "record 1234567 (no NHS number)"),   # ten characters, not an NHS number
    ("943476591", "943476591"),        # not ten digits: shown as stored
    ("94347659191", "94347659191"),
    ("practice", "practice"),
])
def test_the_patient_column(ref, shown):
    assert audit_words.patient_words(ref) == shown


@pytest.mark.parametrize("detail, shown", [
    ("letters=3 kind=type2_in_error", "letters 3, kind type2 in error"),
    ("nhs=9434765919", "NHS number 943 476 5919"),
    ("ods=F84003 via=recovery_key", "ODS code F84003, how recovery key"),
    ("rows=12 events=4 event=7 letter=9 form=paper", "rows 12, events 4, event 7, letter 9, form paper"),
    ("new_role=gp", "new role gp"),
    ("reason=wrong_date", "reason wrong date"),          # ten characters, not an NHS number
    ("letters=3, kind=type1", "letters 3, kind type1"),  # pairs already separated by commas
    ("via=FAX", "how FAX"),
    ("serial=943476591", "serial 943476591"),
    ("free text, no pairs", "free text, no pairs"),
    ("", ""),
])
def test_the_detail_column(detail, shown):
    assert audit_words.detail_words(detail) == shown


def test_every_outcome_but_ok_is_named():
    assert audit_words.OUTCOMES == {"ok": "", "denied": "Refused", "failed": "Failed"}
