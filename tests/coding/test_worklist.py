"""The coding worklist through a real encrypted register: every unconfirmed event of each
kind, the manual tick shown as marked not confirmed, overdue by working days, CSV and the
printed checklist read back, roles, and the CLI."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from pypdf import PdfReader

from gp_optout_desktop import cli
from gp_optout_desktop.domain import coding as rules
from gp_optout_desktop.domain.nhs_number import display
from gp_optout_desktop.domain.roles import PermissionDenied
from gp_optout_desktop.services import audit, coding, objections, users
from gp_optout_desktop.services import session as session_service
from gp_optout_desktop.store import events as events_store

from .helpers import N, fixed


def test_working_days_skip_weekends():
    friday = date(2026, 11, 27)
    assert rules.add_working_days(friday, 1) == date(2026, 11, 30)  # Monday
    assert rules.add_working_days(friday, 5) == date(2026, 12, 4)
    assert rules.add_working_days(date(2026, 11, 30), 5) == date(2026, 12, 7)


def _setup(manager, add_patient):
    fixed(manager, date(2026, 11, 2))  # a Monday
    a = add_patient(manager, surname="Ap Rhys", forenames="Siân", dob="1950-02-03", nhs=N[0])
    b = add_patient(manager, surname="Bell", forenames="Tom", dob="1980-01-01", nhs=N[1])
    c = add_patient(manager, surname="Cole", forenames="Ann", dob="1970-07-07", nhs=N[2])
    objections.record(manager, a)  # Type 1 objection, 2 Nov
    fixed(manager, date(2018, 5, 1))  # a legacy Type 2, keyed before the 2018 cut-off, never coded
    objections.record(manager, c, "type2", effective=date(2017, 5, 1))
    fixed(manager, date(2026, 11, 9))
    objections.record(manager, b)
    objections.record(manager, b, action="withdraw")  # withdrawal: its own code to add
    return a, b, c


def test_every_unconfirmed_event_is_listed_with_its_code_and_date(manager, add_patient):
    a, b, c = _setup(manager, add_patient)
    fixed(manager, date(2026, 11, 10))
    wl = coding.worklist(manager)
    got = [(i.nhs_number, i.code.snomed, i.code.read_v2, i.op, i.source, i.record_date) for i in wl.items]
    assert got == [
        (N[2], "881561000000100", "9Nu4.", "add", "individual", date(2017, 5, 1)),
        (N[0], "827241000000103", "9Nu0.", "add", "individual", date(2026, 11, 2)),
        (N[1], "827241000000103", "9Nu0.", "add", "individual", date(2026, 11, 9)),
        (N[1], "827261000000102", "9Nu1.", "add", "individual", date(2026, 11, 9)),
    ]  # by due date: keyed 1 May 2018 (due 8 May 2018), 2 Nov (due 9 Nov), 9 Nov (due 16 Nov)
    assert [i.due for i in wl.items] == [date(2018, 5, 8), date(2026, 11, 9)] + [date(2026, 11, 16)] * 2
    assert [i.overdue(wl.today) for i in wl.items] == [True, True, False, False]
    assert wl.overdue == 2 and "2 past the coding target of 5 working days" in wl.describe()


def test_a_manual_tick_is_marked_not_confirmed_and_stays_on_the_list(manager, add_patient):
    a, _b, _c = _setup(manager, add_patient)
    event_id = events_store.history(manager.register.conn, a)[0].event_id
    objections.mark_coded(manager, event_id)
    wl = coding.worklist(manager)
    item = next(i for i in wl.items if i.ref == f"E{event_id}")
    assert item.state == "marked" and item.marked_by == "pm"
    assert wl.counts()["marked"] == 1 and "not yet confirmed" in wl.describe()
    with manager.register.transaction() as conn:
        events_store.mark_confirmed(conn, event_id, by="reconciliation 1", at=manager.now())
    assert f"E{event_id}" not in [i.ref for i in coding.worklist(manager).items]


def test_the_coding_target_is_a_setting(manager, add_patient):
    _setup(manager, add_patient)
    fixed(manager, date(2026, 11, 10))
    assert coding.target_days(manager) == 5
    coding.set_target_days(manager, 10)
    wl = coding.worklist(manager)
    assert wl.overdue == 1 and wl.items[1].due == date(2026, 11, 16)  # only the 2018 Type 2 is late now
    with pytest.raises(Exception, match="1 to 30 working days"):
        coding.set_target_days(manager, 0)
    assert audit.query(manager, action="settings.coding_target")


def test_csv_has_the_documented_columns_and_3_3_4_numbers(manager, add_patient, tmp_path):
    _setup(manager, add_patient)
    fixed(manager, date(2026, 11, 10))
    out = tmp_path / "worklist.csv"
    change = coding.export_csv(manager, out)
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert tuple(rows[0]) == coding.CSV_COLUMNS
    assert len(rows) == 4 == change.data["rows"]
    first = rows[1]
    assert first["nhs_number"] == display(N[0]) and first["surname"] == "Ap Rhys" and first["forenames"] == "Siân"
    assert (first["date_of_birth"], first["snomed_concept"], first["read_v2"], first["ctv3"]) == (
        "03/02/1950", "827241000000103", "9Nu0.", "XaZ89")
    assert (first["date_to_record"], first["action"], first["source"], first["overdue"]) == (
        "02/11/2026", "add", "individual", "yes")
    docs = (__import__("pathlib").Path(__file__).parents[2] / "docs" / "clinical-system.md").read_text()
    assert all(f"`{col}`" in docs for col in coding.CSV_COLUMNS)  # every column documented
    logged = audit.query(manager, action="coding.worklist.csv")
    assert logged and "rows=4" in logged[0].detail and N[0] not in logged[0].detail


def test_checklist_pdf_reads_back(manager, add_patient, tmp_path):
    _setup(manager, add_patient)
    fixed(manager, date(2026, 11, 10))
    out = tmp_path / "checklist.pdf"
    coding.export_checklist(manager, out)
    text = "\n".join(page.extract_text() for page in PdfReader(out).pages)
    assert "Coding checklist: Test Surgery (F84003)" in text
    assert display(N[0]) in text and "Siân Ap Rhys" in text and "827241000000103" in text
    assert text.count("OVERDUE") == 2 and "9Nu1." in text


def test_receptionist_may_view_but_not_export(manager, add_patient, register_dir, tmp_path):
    _setup(manager, add_patient)
    users.add(manager, "desk", "receptionist", "desk-password-1")
    manager.lock()
    desk = session_service.unlock(register_dir, "desk", "desk-password-1")
    assert len(coding.worklist(desk).items) == 4
    with pytest.raises(PermissionDenied):
        coding.export_csv(desk, tmp_path / "no.csv")
    with pytest.raises(PermissionDenied):
        coding.export_checklist(desk, tmp_path / "no.pdf")
    assert not (tmp_path / "no.csv").exists()
    desk.lock()


def test_cli_worklist(cli_pm, tmp_path):
    assert cli_pm("patient", "add", "--nhs", N[5], "--surname", "Jones", "--forenames", "Megan", "--dob",
                  "1961-11-19", "--postcode", "cf10 1aa")[0] == 0
    assert cli_pm("object", "--nhs", N[5], "--via", "post")[0] == 0
    code, out, err = cli_pm("coding", "worklist")
    assert code == 0, err
    assert "1 code to key" in out and display(N[5]) in out and "827241000000103" in out
    target = tmp_path / "w.csv"
    code, out, err = cli_pm("coding", "worklist", "--out", str(target))
    assert code == 0, err
    assert display(N[5]) not in out  # the file has the patients; the terminal only the summary
    assert display(N[5]) in target.read_text(encoding="utf-8-sig")
    code, out, err = cli_pm("coding", "worklist", "--out", str(tmp_path / "c.pdf"), "--pdf")
    assert code == 0, err
    assert (tmp_path / "c.pdf").read_bytes().startswith(b"%PDF")
    assert cli_pm("coding", "target", "--working-days", "7")[0] == 0
    assert "7 working days" in cli_pm("coding", "worklist")[1]


def test_quick_date_reading_matches_strptime_on_every_form():
    """The import's date reader reads common forms directly (speed): same answers as strptime."""
    import random
    from datetime import datetime, timedelta

    from gp_optout_desktop.domain import import_rows

    def by_strptime(raw):
        for form in import_rows.DATE_FORMS:
            try:
                return datetime.strptime(raw, form).date()
            except ValueError:
                continue
        return None

    rng = random.Random(7)
    samples = ["2020-02-30", "31/04/2020", "1/2/2020", "01-jan-2020", "1-FEB-2020", "2020-1-02", "12/13/2020",
               "05/06/20", "5 Jun 2020", "32-Jan-2020", "29/02/2021", "01-Foo-2020", "1.2.2020", "0/1/2020", ""]
    for _ in range(2000):
        d = date(1900, 1, 1) + timedelta(days=rng.randint(0, 45_000))
        samples += [d.isoformat(), d.strftime("%d/%m/%Y"), d.strftime("%d-%b-%Y"), f"{d.day}/{d.month}/{d.year}"]
    assert [import_rows._parse_date(s) for s in samples] == [by_strptime(s) for s in samples]


def test_each_event_kind_and_what_is_not_a_coding_task(manager, add_patient):
    """Type 1 and Type 2, objection and withdrawal: each its own code; an include-me request is
    not a code in the clinical system (it only stops a practice-wide add) and is not listed."""
    from gp_optout_desktop.services import exclusion

    fixed(manager, date(2018, 5, 1))  # Type 2 keyed before the 2018 cut-off
    p = add_patient(manager, surname="Kinds", nhs=N[8])
    objections.record(manager, p, "type2", effective=date(2016, 1, 1))
    objections.record(manager, p, "type2", "withdraw", effective=date(2017, 1, 1))
    fixed(manager, date(2026, 11, 2))
    objections.record(manager, p, effective=date(2026, 10, 1))
    objections.record(manager, p, action="withdraw")
    exclusion.opt_in(manager, N[8])
    got = sorted((i.code.objection, i.code.action, i.code.snomed) for i in coding.worklist(manager).items)
    assert got == [("type1", "register", "827241000000103"), ("type1", "withdraw", "827261000000102"),
                   ("type2", "register", "881561000000100"), ("type2", "withdraw", "881581000000109")]


def test_cli_practice_wide_summary(cli_pm):
    code, out, err = cli_pm("coding", "practice-wide")
    assert code == 0, err
    assert out.startswith("Practice-wide codes: 0 to add, 0 to remove, 0 confirmed in place")


def test_days_are_uk_days():
    """Stored times are UTC; a task recorded at 23:30 UTC in summer arose on the next UK day."""
    assert rules.uk_day("2026-07-01T23:30:00+00:00") == date(2026, 7, 2)
    assert rules.uk_day("2026-12-01T23:30:00+00:00") == date(2026, 12, 1)  # GMT: the same day
    assert rules.uk_day("2026-07-01T22:59:59+00:00") == date(2026, 7, 1)


def test_a_failed_write_leaves_no_file_and_no_audit_row(manager, add_patient, tmp_path):
    _setup(manager, add_patient)
    with pytest.raises(OSError):
        coding.export_csv(manager, tmp_path / "no-such-folder" / "w.csv")
    assert audit.query(manager, action="coding.worklist.csv") == []
    assert not (tmp_path / "no-such-folder").exists()
