from datetime import date

import pytest

from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.domain.events import Proxy
from gp_optout_desktop.services import objections, patients
from gp_optout_desktop.services.objections import one_calendar_month_after
from gp_optout_desktop.store.errors import Conflict


@pytest.fixture
def desk(backend):
    """Practice manager 'pm': each test taking it runs on the register file and on the
    PostgreSQL server (tests/services/conftest.py ``backend``), with the same expectations."""
    return backend.manager


def test_record_then_withdraw_reads_as_not_objecting(desk, add_patient):
    pid = add_patient(desk)
    change = objections.record(desk, pid, effective=date(2014, 1, 6), received=date(2014, 1, 6), via="post")
    assert "Type 1 objection recorded" in change.summary and "letter is queued" in change.summary
    record = patients.view(desk, pid)
    assert record.statuses["type1"].describe() == "Objects to their GP data leaving the practice, since 6 Jan 2014"
    objections.record(desk, pid, action="withdraw")
    record = patients.view(desk, pid)
    assert not record.statuses["type1"].active
    assert [r.type1_active for r in patients.find(desk, "Testperson")] == [False]
    assert [l["kind"] for l in record.letters] == ["objection", "withdrawal"]


def test_one_form_covers_an_adult_and_dependants(desk, add_patient):
    parent = add_patient(desk, surname="Family", forenames="Parent")
    kids = [add_patient(desk, surname="Family", forenames=f"Child{i}", dob="2015-02-03") for i in range(2)]
    change = objections.record(desk, parent, dependants=kids)
    assert change.patient_ids == {parent, *kids} and len(change.event_ids) == 3 and len(change.letter_ids) == 1
    for kid in kids:
        record = patients.view(desk, kid)
        event = record.history[0]
        assert record.statuses["type1"].active
        assert event.submitted_by == parent and event.proxy.role == "parental_responsibility"
        assert record.submitted_by[parent] == "Parent Family"
    # The letter goes to the adult who sent the form.
    assert len(patients.view(desk, parent).letters) == 1 and patients.view(desk, kids[0]).letters == []


def test_a_refused_dependant_refuses_the_whole_form(desk, add_patient):
    parent = add_patient(desk, surname="Family")
    kid = add_patient(desk, surname="Family", forenames="Kid", dob="2015-02-03")
    objections.record(desk, kid, via="post")
    revision = desk.revision()
    with pytest.raises(ValidationError, match="For Kid Family: Already recorded"):
        objections.record(desk, parent, dependants=[kid])
    assert desk.revision() == revision
    assert not patients.view(desk, parent).statuses["type1"].active, "nothing half-written"


def test_proxy_is_recorded_with_evidence(desk, add_patient):
    pid = add_patient(desk)
    proxy = Proxy("lpa_health_welfare", "Jo Attorney", "OPG VALIDATED-OPG stamp", "pm")
    with pytest.raises(ValidationError, match="lacks capacity"):  # an LPA is used only when the donor lacks capacity
        objections.record(desk, pid, proxy=proxy, via="post")
    objections.record(desk, pid, proxy=proxy, via="post", donor_lacks_capacity=True)
    recorded = patients.view(desk, pid).history[0].proxy
    assert (recorded.role, recorded.name) == ("lpa_health_welfare", "Jo Attorney")
    assert recorded.evidence == "OPG VALIDATED-OPG stamp; donor lacks capacity to decide (confirmed at the desk)"


def _on(session, day: date):
    """The same user on another day (the register's clock is the session's), on either engine."""
    from dataclasses import replace
    from datetime import datetime, timezone

    return replace(session, clock=lambda: datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc))


def test_late_type2_is_refused_and_changes_nothing(desk, add_patient):
    pid = add_patient(desk)
    revision = desk.revision()
    with pytest.raises(ValidationError, match="National Data Opt-out"):
        objections.record(desk, pid, "type2")
    # A form signed in 2016, keyed today: the code is added today, after the cut-off. Refused.
    with pytest.raises(ValidationError, match="whatever date the form was signed"):
        objections.record(desk, pid, "type2", effective=date(2016, 5, 1), received=date(2016, 5, 1))
    assert desk.revision() == revision and patients.view(desk, pid).history == []


@pytest.mark.parametrize("keyed_on, allowed", [(date(2018, 10, 10), True), (date(2018, 10, 11), True),
                                               (date(2018, 10, 12), False)])
def test_type2_cutoff_by_the_day_keyed_through_the_register(desk, add_patient, keyed_on, allowed):
    pid = add_patient(desk)
    session = _on(desk, keyed_on)
    if allowed:
        objections.record(session, pid, "type2", effective=date(2016, 5, 1), received=date(2016, 5, 1))
        event = patients.view(desk, pid).history[0]
        assert event.added_on == keyed_on and patients.view(desk, pid).statuses["type2"].active
    else:
        revision = desk.revision()
        with pytest.raises(ValidationError, match="after 11 Oct 2018.*National Data Opt-out"):
            objections.record(session, pid, "type2", effective=date(2016, 5, 1), received=date(2016, 5, 1))
        assert desk.revision() == revision and patients.view(desk, pid).history == []


@pytest.mark.parametrize("keyed_on, letter_allowed", [(date(2018, 10, 10), False), (date(2018, 10, 11), False),
                                                      (date(2018, 10, 12), True)])
def test_recorded_in_error_letter_follows_the_day_the_type2_was_added(desk, add_patient, keyed_on,
                                                                      letter_allowed):
    from gp_optout_desktop.services import letters

    pid = add_patient(desk)
    if keyed_on <= date(2018, 10, 11):
        objections.record(_on(desk, keyed_on), pid, "type2", effective=date(2016, 5, 1), received=date(2016, 5, 1))
    if letter_allowed:
        objections.type2_recorded_in_error(desk, pid)
        assert [q.kind for q in letters.pending(desk) if q.patient_id == pid] == ["type2_in_error"]
    else:
        revision = desk.revision()
        with pytest.raises(ValidationError, match="not recorded in error"):
            objections.type2_recorded_in_error(desk, pid)
        assert desk.revision() == revision


def test_coding_and_signposting_are_recorded(desk, add_patient):
    pid = add_patient(desk)
    change = objections.record(desk, pid)
    objections.mark_coded(desk, change.event_ids[0])
    objections.signpost_ndoo(desk, pid, date(2026, 1, 5))
    record = patients.view(desk, pid)
    assert record.history[0].coded_by == "pm" and record.signposts == [date(2026, 1, 5)]
    with pytest.raises(ValidationError, match="already marked"):
        objections.mark_coded(desk, change.event_ids[0])


@pytest.mark.parametrize("received, due", [
    (date(2026, 1, 31), date(2026, 2, 28)), (date(2024, 1, 31), date(2024, 2, 29)),
    (date(2026, 12, 15), date(2027, 1, 15)), (date(2026, 3, 31), date(2026, 4, 30)),
])
def test_one_calendar_month_deadline(received, due):
    assert one_calendar_month_after(received) == due


def test_duplicate_nhs_number_and_bad_input_change_nothing(desk, add_patient):
    pid = add_patient(desk, nhs="9990000018")
    revision = desk.revision()
    with pytest.raises(Conflict):
        add_patient(desk, nhs="999 000 0018")
    with pytest.raises(ValidationError, match="check digit"):
        add_patient(desk, nhs="9990000017")
    with pytest.raises(ValidationError, match="postcode"):
        add_patient(desk, postcode="Q1 1AA")
    assert desk.revision() == revision
    assert [r.patient_id for r in patients.find(desk, "9990000018")] == [pid]


def test_search_each_kind(desk, add_patient):
    a = add_patient(desk, surname="O'Brien", forenames="Siân", dob="1961-11-19", postcode="CF10 1AA", nhs="9990000026")
    b = add_patient(desk, surname="Obi", forenames="Chidi", dob="1990-02-03", postcode="LS1 4AP")
    ids = lambda q: [r.patient_id for r in patients.find(desk, q)]
    assert ids("999 000 0026") == [a] and ids("999-000-0026") == [a]
    assert ids("o'b") == [a] and ids("O") == [a, b] and ids("OB") == [b] and ids("ob, c") == [b]
    assert ids("1961-11-19") == [a] and ids("19/11/1961") == [a]
    assert ids("cf101aa") == [a] and ids("CF10 1AA") == [a] and ids("LS1") == [b]
    assert ids("") == []


def test_an_adult_is_refused_as_a_dependant_and_nothing_is_written(desk, add_patient):
    parent = add_patient(desk, surname="Parent", dob="1980-01-01")
    grown = add_patient(desk, surname="Grown", forenames="Sam", dob="2000-01-01")
    revision = desk.revision()
    with pytest.raises(ValidationError, match="Sam Grown is 2[0-9]: nobody aged 16 or over"):
        objections.record(desk, parent, dependants=[grown])
    assert desk.revision() == revision
    assert patients.view(desk, parent).history == [] and patients.view(desk, grown).history == []


def test_a_child_elsewhere_needs_confirmation_and_a_teenager_gets_the_ndoo_note(desk, add_patient):
    parent = add_patient(desk, surname="Parent", dob="1980-01-01", postcode="LS1 4AP")
    away = add_patient(desk, surname="Away", forenames="Kit", dob="2016-01-01", postcode="M1 1AE")
    teen = add_patient(desk, surname="Teen", forenames="Ash", dob="2012-01-01", postcode="LS1 4AP")
    with pytest.raises(ValidationError, match="Kit Away lives at a different address"):
        objections.record(desk, parent, dependants=[away, teen])
    assert patients.view(desk, away).history == []
    change = objections.record(desk, parent, dependants=[away, teen], confirm_other_address=True)
    assert any("Ash Teen is 1" in w and "own National Data Opt-out" in w for w in change.warnings)
    assert patients.view(desk, away).statuses["type1"].active


def test_a_parental_responsibility_proxy_is_refused_for_an_adult(desk, add_patient):
    old = add_patient(desk, surname="Elder", dob="1944-03-03")
    with pytest.raises(ValidationError, match="cannot act for an adult"):
        objections.record(desk, old, proxy=Proxy("parental_responsibility", "Jo Child", "seen", "pm"))
    assert patients.view(desk, old).history == []
