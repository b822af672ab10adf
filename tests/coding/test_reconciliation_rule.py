"""The reconciliation rule alone (domain/reconciliation.py): states compared, not dates, so a
code re-dated by GP2GP still agrees; a history agrees when its latest state does, and only the
events whose action the export shows are confirmed; every row lands in one group."""

from __future__ import annotations

from datetime import date, timedelta

from gp_optout_desktop.domain import coding as rules
from gp_optout_desktop.domain.import_rows import ImportRow
from gp_optout_desktop.domain.patient import validate_patient
from gp_optout_desktop.domain.reconciliation import RegisterPair, compare, identity_problems

from .helpers import N

TODAY = date(2026, 11, 20)
DAY = date(2026, 11, 2)


def _row(line, n, kind, action, effective, dob=date(1970, 1, 1)):
    patient = validate_patient(surname="Rule", forenames="Pat", dob=dob, postcode_raw="LS1 4AP", nhs=N[n], today=TODAY)
    return ImportRow(line, patient, kind, action, effective, effective)


def _people(ids):
    return {pid: (N[pid], "", "Pat", "Rule", "1970-01-01") for pid in ids}


def test_states_not_dates_and_only_shown_actions_confirmed():
    by_nhs = {N[i]: (i, "1970-01-01") for i in range(1, 5)}
    regdated = RegisterPair(1, "type1", active=True, events=[(11, "register", False, DAY)])
    history = RegisterPair(2, "type1", active=False, events=[(21, "register", False, DAY), (22, "withdraw", False, DAY),
                                                            (23, "register", True, DAY), (24, "withdraw", False, DAY)])
    not_shown = RegisterPair(3, "type1", active=True, events=[(31, "register", False, DAY)])
    removal = RegisterPair(4, "type1", pw=rules.PracticeWide(rules.REMOVE, False), pw_row=(41, "remove", False, DAY))
    rows = [
        _row(2, 1, "type1", "register", date(2019, 5, 5)),   # re-dated by GP2GP: still agrees
        _row(3, 2, "type1", "register", date(2014, 1, 6)),
        _row(4, 2, "type1", "withdraw", date(2015, 1, 6)),   # latest: withdrawn, as in the register
        _row(5, 9, "type1", "register", date(2014, 1, 6)),   # not in the register
        _row(6, 9, "type2", "register", date(2014, 1, 6)),
    ]
    found = compare(rows, {(1, "type1"): regdated, (2, "type1"): history, (3, "type1"): not_shown,
                           (4, "type1"): removal}, by_nhs, _people)
    groups = sorted((i.category, i.nhs, i.kind) for i in found.items)
    assert groups == [("a", N[3], "type1"), ("b", N[9], "type1"), ("b", N[9], "type2"), ("d", N[1], "type1"),
                      ("d", N[2], "type1"), ("d", N[4], "type1")]
    assert sorted(found.confirm_events) == [11, 21, 22, 24]  # 23 was confirmed already
    assert found.confirm_practice == [41] and found.not_coded_oldest == DAY
    assert sum(len(i.rows) for i in found.items) == len(rows)
    assert [r.row for r in found.missing] == [5, 6]


def test_one_nhs_number_is_one_person():
    rows = [_row(2, 1, "type1", "register", DAY), _row(3, 1, "type1", "withdraw", DAY, dob=date(1971, 1, 1)),
            _row(4, 2, "type1", "register", DAY)]
    problems = identity_problems(rows, {N[2]: (7, "1980-02-02")})
    assert [(p.row, p.message) for p in problems] == [
        (3, "the same NHS number as row 2 with another date of birth"),
        (4, "the register has this NHS number with another date of birth: check which is right before reconciling")]


def test_every_row_and_every_register_pair_lands_in_exactly_one_group():
    """Random registers and exports: (b)+(c)+(d) rows = the file's rows; every register pair is
    in (a), (c) or (d) once; confirmations only ever come from (d)."""
    from hypothesis import given, settings, strategies as st

    event = st.tuples(st.sampled_from(["register", "withdraw"]), st.booleans())
    register_side = st.dictionaries(st.tuples(st.integers(1, 6), st.sampled_from(["type1", "type2"])),
                                    st.lists(event, min_size=1, max_size=3), max_size=8)
    export_side = st.lists(st.tuples(st.integers(1, 9), st.sampled_from(["type1", "type2"]),
                                     st.sampled_from(["register", "withdraw"]), st.integers(0, 3000)), max_size=20)

    @settings(max_examples=150, deadline=None)
    @given(register_side, export_side)
    def check(reg, exp):
        pairs, next_id = {}, iter(range(1, 1000))
        for (pid, kind), events in reg.items():
            ids = [(next(next_id), action, confirmed, DAY) for action, confirmed in events]
            pairs[(pid, kind)] = RegisterPair(pid, kind, active=events[-1][0] == "register", events=ids)
        by_nhs = {N[i]: (i, "1970-01-01") for i in range(1, 7)}  # 7-9 are not in the register
        rows = [_row(line, n, kind, action, date(2014, 1, 1) + timedelta(days=days))
                for line, (n, kind, action, days) in enumerate(exp, start=2)]
        found = compare(rows, pairs, by_nhs, _people)
        assert sum(len(i.rows) for i in found.items if i.category in "bcd") == len(rows)
        assert all(not i.rows for i in found.items if i.category == "a")
        register_items = [i for i in found.items if i.category in "acd"]
        assert len(register_items) == len(pairs)
        agreeing = {(by_nhs[i.nhs][0], i.kind) for i in found.items if i.category == "d"}
        confirmable = {e[0] for key in agreeing for e in pairs[key].events if not e[2]}
        assert set(found.confirm_events) <= confirmable

    check()
