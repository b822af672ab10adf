"""The Type 2 cut-off, tested where it bites: the day before, the day itself and the day after
11 October 2018, in every path that treats a Type 2 by its date.

Type 2 codes added to the record on or before 11 October 2018 were converted to the National
Data Opt-out; later ones "will no longer be processed" (docs: shared domain brief, section 8).
The date that counts is the day the code was ADDED to the record (keyed here: the UK day it
was recorded; imported: the clinical system's date recorded, else the code's date), not the
day the patient signed. Paths: recording at the desk, the CSV import, the "recorded in error"
letter, the coding worklist, the exclusion file, and reconciliation with the clinical system.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from gp_optout_desktop.domain import codes, nhs_number
from gp_optout_desktop.domain.codes import REGISTER, TYPE1, TYPE2, WITHDRAW
from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.domain.exclusion_rules import EXCLUDE_LISTED
from gp_optout_desktop.domain.import_rows import ImportRefused
from gp_optout_desktop.domain.reconciliation import NOT_IN_REGISTER
from gp_optout_desktop.exclusion import signing
from gp_optout_desktop.exclusion.reader import read_export
from gp_optout_desktop.store.errors import NotFound
from gp_optout_desktop.services import coding, exclusion, importer, objections, patients, reconcile
from gp_optout_desktop.store import events as events_store

CUTOFF = date(2018, 10, 11)
BEFORE, ON, AFTER = CUTOFF - timedelta(days=1), CUTOFF, CUTOFF + timedelta(days=1)
NUMBERS = nhs_number.synthetic_range(660_000)[-12:]  # apart from other tests' numbers


def test_the_cut_off_is_the_national_date():
    assert codes.TYPE2_CUTOFF == CUTOFF


def _at_uk_noon(session, day: date) -> None:
    session.clock = lambda: datetime(day.year, day.month, day.day, 11, tzinfo=timezone.utc)  # 12:00 BST


def _history(session, pid):
    with session.read_store("view_patient") as store:  # either engine (store/backend.py)
        return store.history(pid)


@pytest.fixture
def desk(backend):
    """Practice manager 'pm' on the register file, then on the PostgreSQL server."""
    return backend.manager


# ---- recording at the desk ------------------------------------------------------------------

@pytest.mark.parametrize("day, accepted", [(BEFORE, True), (ON, True), (AFTER, False)],
                         ids=["day-before", "cut-off-day", "day-after"])
def test_recording_a_type2_at_the_desk(desk, add_patient, day, accepted):
    pid = add_patient(desk)
    _at_uk_noon(desk, day)
    revision = desk.revision()
    if accepted:
        objections.record(desk, pid, TYPE2, effective=day, received=day)
        [event] = _history(desk, pid)
        assert (event.kind, event.action, event.added_on) == (TYPE2, REGISTER, day)
    else:
        with pytest.raises(ValidationError, match="added to the record after 11 Oct 2018 are not processed"):
            objections.record(desk, pid, TYPE2, effective=BEFORE, received=BEFORE)  # an old form keyed late
        assert _history(desk, pid) == [] and desk.revision() == revision


@pytest.mark.parametrize("utc, accepted", [
    (datetime(2018, 10, 11, 22, 59, tzinfo=timezone.utc), True),   # 23:59 on the 11th in the UK (BST)
    (datetime(2018, 10, 11, 23, 1, tzinfo=timezone.utc), False),   # 00:01 on the 12th in the UK
], ids=["last-minute-of-the-day", "first-minute-after"])
def test_the_desk_s_day_is_the_uk_day(desk, add_patient, utc, accepted):
    pid = add_patient(desk)
    desk.clock = lambda: utc
    if accepted:
        objections.record(desk, pid, TYPE2)
        assert [e.added_on for e in _history(desk, pid)] == [ON]
    else:
        with pytest.raises(ValidationError, match="cannot be recorded"):
            objections.record(desk, pid, TYPE2)


def test_withdrawing_a_converted_type2_after_the_cut_off_is_still_recorded(desk, add_patient):
    """The cut-off stops new Type 2 objections, not the patient's withdrawal of an old one."""
    pid = add_patient(desk)
    _at_uk_noon(desk, ON)
    objections.record(desk, pid, TYPE2)
    _at_uk_noon(desk, AFTER)
    objections.record(desk, pid, TYPE2, WITHDRAW)
    assert [(e.action, e.added_on) for e in _history(desk, pid)] == [(REGISTER, ON), (WITHDRAW, AFTER)]


# ---- the CSV import from the clinical system -------------------------------------------------

def _import_csv(rows: list[tuple], with_added: bool = True) -> str:
    """rows: (nhs, surname, code, code date, date recorded)."""
    head = "NHS Number,Surname,Forenames,Date of Birth,Postcode,Code,Code date" + (",Date recorded" if with_added else "")
    lines = [head]
    for nhs, surname, code, effective, added in rows:
        line = f"{nhs},{surname},Alex,1970-05-06,LS1 4AP,{code},{effective.isoformat()}"
        lines.append(line + (f",{added.isoformat()}" if with_added else ""))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("day, accepted", [(BEFORE, True), (ON, True), (AFTER, False)],
                         ids=["day-before", "cut-off-day", "day-after"])
def test_importing_a_type2_by_the_date_it_was_added(manager, day, accepted):
    """The code's date is years earlier; the day it was added to the record decides."""
    t2 = manager.codes.lookup(TYPE2, REGISTER).snomed
    text = _import_csv([(NUMBERS[0], "Imported", t2, date(2015, 1, 5), day)])
    revision = manager.revision()
    if accepted:
        importer.import_objections(manager, text)
        [event] = _history(manager, patients.by_nhs(manager, NUMBERS[0]).patient_id)
        assert (event.kind, event.added_on, event.effective) == (TYPE2, day, date(2015, 1, 5))
    else:
        with pytest.raises(ImportRefused) as refused:
            importer.import_objections(manager, text)
        [problem] = refused.value.problems
        assert problem.row == 2 and "added to the record after 11 Oct 2018" in problem.message
        assert manager.revision() == revision and patients.find(manager, "Imported") == []


@pytest.mark.parametrize("day, accepted", [(BEFORE, True), (ON, True), (AFTER, False)],
                         ids=["day-before", "cut-off-day", "day-after"])
def test_importing_a_type2_without_a_date_recorded_goes_by_the_code_s_date(manager, day, accepted):
    t2 = manager.codes.lookup(TYPE2, REGISTER).snomed
    text = _import_csv([(NUMBERS[1], "Undated", t2, day, None)], with_added=False)
    if accepted:
        assert importer.check(manager, text).events_new == 1
        importer.import_objections(manager, text)
    else:
        with pytest.raises(ImportRefused, match="cannot be imported"):
            importer.check(manager, text)


def test_importing_a_type2_withdrawal_or_a_type1_after_the_cut_off_is_accepted(manager):
    table = manager.codes
    text = _import_csv([
        (NUMBERS[2], "Withdrew", table.lookup(TYPE2, REGISTER).snomed, date(2015, 1, 5), ON),
        (NUMBERS[2], "Withdrew", table.lookup(TYPE2, WITHDRAW).snomed, AFTER, AFTER),
        (NUMBERS[3], "Typeone", table.lookup(TYPE1, REGISTER).snomed, AFTER, AFTER),
    ])
    assert importer.import_objections(manager, text).data["plan"].events_new == 3


# ---- the "Type 2 recorded in error" letter ---------------------------------------------------

@pytest.mark.parametrize("day", [BEFORE, ON], ids=["day-before", "cut-off-day"])
def test_no_recorded_in_error_letter_for_a_type2_added_by_the_cut_off(manager, add_patient, day):
    """Imported with the clinical system's date recorded, or keyed at the desk that day: it
    was converted to the National Data Opt-out, so it was not recorded in error."""
    t2 = manager.codes.lookup(TYPE2, REGISTER).snomed
    importer.import_objections(manager, _import_csv([(NUMBERS[4], "Converted", t2, date(2016, 2, 2), day)]))
    imported = patients.by_nhs(manager, NUMBERS[4]).patient_id
    keyed = add_patient(manager, surname="Keyed")
    real_clock = manager.clock
    _at_uk_noon(manager, day)
    objections.record(manager, keyed, TYPE2)
    manager.clock = real_clock
    for pid in (imported, keyed):
        revision = manager.revision()
        with pytest.raises(ValidationError, match=f"added to the record on {day.day} Oct 2018, on or before "
                                                  "11 Oct 2018, so it was converted"):
            objections.type2_recorded_in_error(manager, pid)
        assert manager.revision() == revision


def test_the_recorded_in_error_letter_for_a_type2_refused_the_day_after(manager, add_patient):
    """The day after, the desk refuses the Type 2 and may send the letter that explains why."""
    pid = add_patient(manager)
    _at_uk_noon(manager, AFTER)
    with pytest.raises(ValidationError, match="cannot be recorded"):
        objections.record(manager, pid, TYPE2)
    change = objections.type2_recorded_in_error(manager, pid)
    assert len(change.letter_ids) == 1


# ---- the coding worklist and the exclusion file ----------------------------------------------

def test_the_coding_worklist_lists_the_type2s_keyed_up_to_the_cut_off_and_nothing_for_the_day_after(
        manager, add_patient):
    ids = {}
    for day in (BEFORE, ON, AFTER):
        ids[day] = add_patient(manager, surname=f"Day{day.day}")
        _at_uk_noon(manager, day)
        try:
            objections.record(manager, ids[day], TYPE2)
        except ValidationError:
            assert day == AFTER
    _at_uk_noon(manager, date(2018, 10, 20))
    items = coding.worklist(manager).items
    t2 = manager.codes.lookup(TYPE2, REGISTER)
    assert sorted((i.patient_id, i.code.snomed, i.record_date) for i in items) == sorted(
        [(ids[BEFORE], t2.snomed, BEFORE), (ids[ON], t2.snomed, ON)])


def test_the_exclusion_file_never_lists_a_type2_whatever_side_of_the_cut_off(manager, tmp_path):
    """Type 2 never governed extraction from the practice: converted or not, not listed. A Type 1
    added the same days is listed (so the file is not simply empty)."""
    table = manager.codes
    t1, t2 = table.lookup(TYPE1, REGISTER).snomed, table.lookup(TYPE2, REGISTER).snomed
    importer.import_objections(manager, _import_csv([
        (NUMBERS[5], "Twobefore", t2, BEFORE, BEFORE), (NUMBERS[6], "Twoon", t2, ON, ON),
        (NUMBERS[7], "Onebefore", t1, BEFORE, BEFORE), (NUMBERS[8], "Oneon", t1, ON, ON),
        (NUMBERS[9], "Oneafter", t1, AFTER, AFTER),
    ]))
    exclusion.export(manager, tmp_path / "out")
    key = signing.load_public_key_pem(exclusion.public_key_pem(manager)[0])
    state = tmp_path / "seen.json"
    exset = read_export(tmp_path / "out", key, practice_ods="F84003", state_path=state)
    assert exset.manifest.mode == EXCLUDE_LISTED
    assert sorted((r.nhs_number, r.effective) for r in exset.rows) == sorted(
        [(NUMBERS[7], BEFORE), (NUMBERS[8], ON), (NUMBERS[9], AFTER)])


# ---- reconciliation with the clinical system ---------------------------------------------------

def _emis(rows: list[tuple]) -> bytes:
    """An EMIS-shaped export (no separate date recorded: the event date is the day added)."""
    lines = ["NHS Number,Surname,Forename,Date of Birth,Postcode,SNOMED Code,Event Date"]
    for nhs, surname, code, when in rows:
        lines.append(f"{nhs_number.display(nhs)},{surname},Alex,06-May-1970,LS1 4AP,{code},{when:%d-%b-%Y}")
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


@pytest.mark.parametrize("day", [BEFORE, ON], ids=["day-before", "cut-off-day"])
def test_reconciling_a_type2_coded_by_the_cut_off_brings_it_in(manager, tmp_path, day):
    t2 = manager.codes.lookup(TYPE2, REGISTER).snomed
    export = tmp_path / "emis.csv"
    export.write_bytes(_emis([(NUMBERS[10], "Coded", t2, day)]))
    result = reconcile.reconcile(manager, export)
    assert result.count(NOT_IN_REGISTER) == 1 and [r.added for r in result.missing_rows] == [day]
    reconcile.import_missing(manager, result)
    [event] = _history(manager, patients.by_nhs(manager, NUMBERS[10]).patient_id)
    assert (event.kind, event.added_on) == (TYPE2, day)


def test_reconciling_a_type2_coded_the_day_after_reports_it_and_brings_nothing_in(manager, tmp_path):
    """A clinical system may well hold a late Type 2: the run goes on, names its row, and
    neither compares nor imports it (it was never processed nationally)."""
    table = manager.codes
    export = tmp_path / "emis.csv"
    export.write_bytes(_emis([(NUMBERS[10], "Coded", table.lookup(TYPE1, REGISTER).snomed, ON),
                              (NUMBERS[11], "Late", table.lookup(TYPE2, REGISTER).snomed, AFTER)]))
    result = reconcile.reconcile(manager, export)
    assert result.late_type2 == [3] and result.rows == 2
    assert [r.row for r in result.missing_rows] == [2]  # only the Type 1 is brought in
    words = result.describe()
    assert "(e) 1 row (3) with a Type 2 objection added to the record after 11 Oct 2018" in words
    assert "'Type 2 recorded in error' letter" in words
    assert "Every row accounted for: 1 + 0 + 0 + 1 = 2." in words
    report = reconcile.report_csv(result).splitlines()
    assert report[-1].startswith("e,") and report[-1].endswith(",3,")
    reconcile.import_missing(manager, result)
    with pytest.raises(NotFound):
        patients.by_nhs(manager, NUMBERS[11])
    assert [e.kind for e in _history(manager, patients.by_nhs(manager, NUMBERS[10]).patient_id)] == [TYPE1]


# ---- a register that already holds a late Type 2 (keyed before the desk refused them) --------

def _keyed_by_an_earlier_release(session, pid, *, signed: date, keyed: date) -> None:
    """A Type 2 recorded the way the first release did, with no cut-off check: an old form
    signed on ``signed`` keyed at the desk on ``keyed``. Written through the one write path."""
    from gp_optout_desktop.domain.events import Event
    from gp_optout_desktop.services.patients import audit_ref
    from gp_optout_desktop.store import patients as patients_store

    with session.write("record_objection") as ctx:
        event = Event(kind=TYPE2, action=REGISTER, effective=signed, received=signed, via="desk",
                      recorded_by=session.user, recorded_at=datetime(keyed.year, keyed.month, keyed.day, 11,
                                                                     tzinfo=timezone.utc))
        events_store.insert(ctx.conn, pid, event, events_store.next_form_id(ctx.conn))
        events_store.refresh_current_state(ctx.conn, pid)
        ctx.audit("type2.register", audit_ref(patients_store.get(ctx.conn, pid)), detail="legacy")


@pytest.mark.parametrize("keyed, allowed", [(BEFORE, False), (ON, False), (AFTER, True)],
                         ids=["day-before", "cut-off-day", "day-after"])
def test_the_recorded_in_error_letter_goes_by_the_day_the_type2_was_keyed(manager, add_patient, tmp_path, keyed,
                                                                          allowed):
    """A form signed the day before the cut-off but keyed the day after was never converted:
    the letter is allowed and lists it; keyed on or before the cut-off, it is refused."""
    from pypdf import PdfReader

    from gp_optout_desktop.services import letters

    pid = add_patient(manager, surname="Latekeyed")
    _keyed_by_an_earlier_release(manager, pid, signed=BEFORE, keyed=keyed)
    if not allowed:
        with pytest.raises(ValidationError, match="so it was converted"):
            objections.type2_recorded_in_error(manager, pid)
        return
    [letter_id] = objections.type2_recorded_in_error(manager, pid).letter_ids
    letters_before = {p.letter_id for p in letters.pending(manager)}
    assert letter_id in letters_before
    change = letters.print_batch(manager, tmp_path / "in-error.pdf", letter_ids=[letter_id])
    text = " ".join(p.extract_text() for p in PdfReader(change.data["path"]).pages)
    assert "Latekeyed" in text and "Type 2 objection" in text and "from 10 October 2018" in text, \
        "the late Type 2 the letter is about is listed"
