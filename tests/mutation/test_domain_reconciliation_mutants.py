"""Reconciliation's report as the practice manager reads it: every category with its reason
in words, the register's and the clinical system's state side by side, in the report's
order, and what is confirmed or recorded as a result."""
from __future__ import annotations

from datetime import date

from gp_optout_desktop.domain import coding as rules
from gp_optout_desktop.domain.import_rows import ImportRow
from gp_optout_desktop.domain.nhs_number import synthetic_range
from gp_optout_desktop.domain.patient import validate_patient
from gp_optout_desktop.domain.reconciliation import (
    AGREE, DIFFER, NOT_CODED, NOT_IN_REGISTER, Item, RegisterPair, compare,
)

N = synthetic_range(12)
TODAY = date(2026, 11, 20)
DOB = date(1970, 1, 1)


def row(line, n, surname, kind, action, effective):
    patient = validate_patient(surname=surname, forenames="Pat", dob=DOB, postcode_raw="LS1 4AP", nhs=N[n],
                               today=TODAY)
    return ImportRow(line, patient, kind, action, effective, effective)


SURNAMES = {1: "Ash", 2: "Birch", 3: "Cedar", 4: "Damson", 5: "Elm", 6: "Fir", 7: "Gorse", 8: "Hazel"}


def people(ids):
    return {pid: (None if pid == 5 else N[pid], "", "Pat", SURNAMES[pid], "1970-01-01") for pid in ids}


def test_every_category_and_reason_in_the_report_order():
    by_nhs = {N[i]: (i, "1970-01-01") for i in range(1, 9)}
    pairs = {
        (1, "type1"): RegisterPair(1, "type1", active=True, events=[(11, "register", False, date(2026, 11, 2))]),
        (2, "type1"): RegisterPair(2, "type1", events=[(21, "register", True, date(2026, 1, 5)),
                                                       (22, "withdraw", True, date(2026, 2, 5))]),
        (3, "type1"): RegisterPair(3, "type1", pw=rules.PracticeWide(rules.REMOVE, False),
                                   pw_row=(31, rules.REMOVE, False, date(2026, 11, 3))),
        (4, "type1"): RegisterPair(4, "type1", pw=rules.PracticeWide(rules.ADD, True),
                                   pw_row=(None, rules.ADD, False, date(2026, 11, 4))),
        (5, "type1"): RegisterPair(5, "type1", active=True, events=[(51, "register", False, date(2026, 10, 1))]),
        (6, "type2"): RegisterPair(6, "type2", active=True, events=[(61, "register", True, date(2016, 5, 1)),
                                                                   (62, "register", False, date(2026, 9, 1))]),
        (7, "type1"): RegisterPair(7, "type1", pw=rules.PracticeWide(rules.REMOVE, False),
                                   pw_row=(71, rules.ADD, True, date(2026, 11, 5))),
        (8, "type1"): RegisterPair(8, "type1", active=True, events=[(81, "register", False, date(2020, 1, 1))]),
    }
    rows = [
        row(2, 1, "Ash", "type1", "withdraw", date(2026, 11, 3)),
        row(3, 2, "Birch", "type1", "register", date(2014, 1, 6)),
        row(4, 3, "Cedar", "type1", "register", date(2014, 2, 6)),
        row(5, 4, "Damson", "type1", "register", date(2014, 3, 6)),
        row(6, 9, "Ivy", "type1", "register", date(2014, 4, 6)),
        row(7, 1, "Ash", "type2", "register", date(2014, 5, 6)),
    ]
    found = compare(rows, pairs, by_nhs, people, inactive={8})
    assert found.items == [
        Item(NOT_CODED, "no NHS number in the register, so it cannot be matched: add it", "type1", None, "Elm", "Pat",
             DOB, "objecting", "", (), ("E51",)),
        Item(NOT_CODED, "no Type 2 code for this patient in the clinical system: key it", "type2", N[6], "Fir", "Pat",
             DOB, "objecting", "", (), ("E61", "E62")),
        Item(DIFFER, "the register says objecting; the clinical system's latest code is a withdrawal", "type1", N[1],
             "Ash", "Pat", DOB, "objecting", "not objecting (withdrawn), latest code dated 03/11/2026", (2,), ("E11",)),
        Item(DIFFER, "the register says not objecting; the clinical system's latest code is an objection", "type1",
             N[2], "Birch", "Pat", DOB, "not objecting (withdrawn)", "objecting, latest code dated 06/01/2014", (3,),
             ("E21", "E22")),
        Item(DIFFER, "the practice-wide code is still in the record: remove it", "type1", N[3], "Cedar", "Pat", DOB,
             "practice-wide code removed", "objecting, latest code dated 06/02/2014", (4,), ("P31",)),
        Item(NOT_IN_REGISTER, "no Type 2 event in the register: coded directly or arrived by GP2GP", "type2", N[1],
             "Ash", "Pat", DOB, "", "objecting, latest code dated 06/05/2014", (7,)),
        Item(NOT_IN_REGISTER, "patient not in the register: coded directly or arrived by GP2GP", "type1", N[9],
             "Ivy", "Pat", DOB, "", "objecting, latest code dated 06/04/2014", (6,)),
        Item(AGREE, "the latest state agrees", "type1", N[4], "Damson", "Pat", DOB, "practice-wide code",
             "objecting, latest code dated 06/03/2014", (5,), ("N4",)),
        Item(AGREE, "the practice-wide code is no longer in the record", "type1", N[7], "Gorse", "Pat", DOB,
             "practice-wide code removed", "", (), ("P71",)),
    ]
    # The add for a patient with no row yet is recorded; the opt-in after a confirmed add is
    # recorded as a removal; nothing in (c) is confirmed.
    assert found.record_practice == [(4, rules.ADD), (7, rules.REMOVE)]
    assert found.confirm_practice == [] and found.confirm_events == []
    # The oldest unconfirmed wait among the not-coded: the Type 2 keyed on 1 Sep 2026.
    assert found.not_coded_oldest == date(2026, 9, 1)
    assert found.left_practice == 1
    assert [r.row for r in found.missing] == [6, 7]


def test_confirmed_where_the_export_agrees():
    by_nhs = {N[1]: (1, "1970-01-01"), N[2]: (2, "1970-01-01")}
    pairs = {
        (1, "type1"): RegisterPair(1, "type1", pw=rules.PracticeWide(rules.ADD, True),
                                   pw_row=(15, rules.ADD, False, date(2026, 11, 4))),
        (2, "type1"): RegisterPair(2, "type1", pw=rules.PracticeWide(rules.REMOVE, False),
                                   pw_row=(25, rules.REMOVE, False, date(2026, 11, 4))),
    }
    rows = [row(2, 1, "Ash", "type1", "register", date(2014, 3, 6)),
            row(3, 2, "Birch", "type1", "register", date(2014, 3, 6)),
            row(4, 2, "Birch", "type1", "withdraw", date(2015, 3, 6))]
    found = compare(rows, pairs, by_nhs, lambda ids: {})
    assert [i.category for i in found.items] == [AGREE, AGREE]
    assert found.confirm_practice == [15, 25] and found.record_practice == []
    assert found.not_coded_oldest is None and found.left_practice == 0


def test_a_register_pair_waiting_since_its_oldest_unconfirmed_step():
    pair = RegisterPair(1, "type1", active=True, events=[(1, "register", True, date(2020, 1, 1)),
                                                         (2, "withdraw", False, date(2021, 1, 1)),
                                                         (3, "register", False, date(2022, 1, 1))],
                        pw=rules.PracticeWide(rules.ADD, True), pw_row=(9, rules.ADD, False, date(2020, 6, 1)))
    assert pair.unconfirmed_since() == date(2020, 6, 1)
    assert pair.expect and pair.words() == "objecting"
    assert pair.refs == ("E1", "E2", "E3", "P9")
    assert RegisterPair(2, "type1").unconfirmed_since() is None
    assert not RegisterPair(2, "type1", pw=rules.PracticeWide(None, None)).expect
    assert RegisterPair(2, "type2", pw=rules.PracticeWide(rules.ADD, True)).words() == "not objecting (withdrawn)"


def test_register_pairs_the_export_does_not_show_each_get_their_line_and_the_oldest_wait():
    # An empty export: a finished practice-wide removal agrees, and every pair after it is
    # still reported: a practice-wide code already in place (no events) and a confirmed
    # objection whose code has gone from the record are both "not coded".
    pairs = {
        (1, "type1"): RegisterPair(1, "type1", pw=rules.PracticeWide(rules.REMOVE, False),
                                   pw_row=(15, rules.REMOVE, False, date(2026, 11, 4))),
        (2, "type1"): RegisterPair(2, "type1", pw=rules.PracticeWide(None, True),
                                   pw_row=(25, rules.ADD, True, date(2026, 3, 1))),
        (3, "type1"): RegisterPair(3, "type1", active=True, events=[(31, "register", True, date(2026, 6, 1))]),
    }
    found = compare([], pairs, {}, people)
    key_it = "no Type 1 code for this patient in the clinical system: key it"
    assert [(i.category, i.reason, i.surname) for i in found.items] == [
        (NOT_CODED, key_it, "Birch"), (NOT_CODED, key_it, "Cedar"),
        (AGREE, "the practice-wide code is no longer in the record", "Ash")]
    assert found.confirm_practice == [15]
    # The practice-wide code has waited since it was queued, before the objection's code went.
    assert found.not_coded_oldest == date(2026, 3, 1)


def test_namesakes_are_listed_by_nhs_number_with_the_unnumbered_first():
    """Two or more people of the same name in one category: listed by NHS number, and one the
    register holds without a number (it cannot be matched: "add it") first, so the list reads
    the same at every run and the manager can tick it off against the clinical system's."""
    names = {1: N[3], 2: None, 3: N[1], 4: N[2]}
    pairs = {(pid, "type1"): RegisterPair(pid, "type1", active=True,
                                          events=[(pid * 10, "register", True, date(2026, 6, pid))])
             for pid in names}

    def namesakes(ids):
        return {pid: (names[pid], "", "Pat", "Oak", "1970-01-01") for pid in ids}

    found = compare([], pairs, {}, namesakes)
    assert [(i.category, i.nhs) for i in found.items] == [
        (NOT_CODED, None), (NOT_CODED, N[1]), (NOT_CODED, N[2]), (NOT_CODED, N[3])]
    assert found.items[0].reason == "no NHS number in the register, so it cannot be matched: add it"
