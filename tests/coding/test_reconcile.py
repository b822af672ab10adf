"""Reconciliation through a real encrypted register, against generated EMIS Web-shaped and
SystmOne-shaped exports covering (a)-(d): every row accounted for, agreeing events confirmed by
the run, (b) imported in one step, bad input refused by row with nothing changed, Windows-1252
refused unless asked for, semicolons read, the run audited and shown on the overview."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from gp_optout_desktop.domain.import_rows import ImportRefused
from gp_optout_desktop.domain.nhs_number import display
from gp_optout_desktop.services import audit, coding, objections, overview, patients, reconcile
from gp_optout_desktop.store import events as events_store

from .helpers import N, emis_export, fixed, systmone_export

T1, T1W, T2 = "827241000000103", "827261000000102", "881561000000100"


def _register(manager, add_patient):
    """A: objects (agrees); B: objects, never coded (a); D: objected then withdrew, the clinical
    system has only the objection (c); E: legacy Type 2 (agrees); F: ticked coded, not in the
    export (a). C is only in the clinical system (b)."""
    fixed(manager, date(2026, 11, 2))
    ids = {}
    for key, n, surname, forename, dob in (("A", 0, "Ap Rhys", "Siân", "1950-02-03"), ("B", 1, "Bell", "Tom", "1980-01-01"),
                                           ("D", 3, "Dee", "Ruth", "1966-06-06"), ("E", 4, "Evans", "Ifan", "1975-01-01"),
                                           ("F", 5, "Ford", "Lee", "1990-09-09")):
        ids[key] = add_patient(manager, surname=surname, forenames=forename, dob=dob, nhs=N[n])
    for key in ("A", "B", "D", "F"):
        objections.record(manager, ids[key], effective=date(2026, 10, 30))
    objections.record(manager, ids["D"], action="withdraw")
    fixed(manager, date(2018, 5, 1))  # a Type 2 keyed before the 2018 cut-off (and never coded)
    objections.record(manager, ids["E"], "type2", effective=date(2017, 5, 1))
    fixed(manager, date(2026, 11, 2))
    f_event = events_store.history(manager.register.conn, ids["F"])[0].event_id
    objections.mark_coded(manager, f_event)
    return ids


ROWS = [
    (N[0], "Ap Rhys", "Siân", date(1950, 2, 3), "LS1 4AP", T1, date(2026, 10, 30)),
    (N[2], "Cole", "Ann", date(1970, 7, 7), "LS1 4AP", T1, date(2019, 4, 1)),       # (b): GP2GP
    (N[2], "Cole", "Ann", date(1970, 7, 7), "LS1 4AP", T1W, date(2020, 4, 1)),      # (b): the same patient
    (N[3], "Dee", "Ruth", date(1966, 6, 6), "LS1 4AP", T1, date(2026, 10, 30)),     # (c)
    (N[4], "Evans", "Ifan", date(1975, 1, 1), "LS1 4AP", T2, date(2017, 5, 1)),
]


def _counts(result):
    return {k: result.count(k) for k in "abcd"}, {k: result.rows_in(k) for k in "bcd"}


@pytest.mark.parametrize("shape", ["emis", "systmone"])
def test_each_group_found_and_every_row_accounted_for(manager, add_patient, tmp_path, shape):
    ids = _register(manager, add_patient)
    fixed(manager, date(2026, 11, 12))
    path = tmp_path / "export.csv"
    if shape == "emis":
        path.write_bytes(emis_export(ROWS))
        encoding = None
    else:
        ctv3 = {T1: "XaZ89", T1W: "XaZ8a", T2: "XaaVL"}
        path.write_bytes(systmone_export([r[:5] + (ctv3[r[5]], r[6]) for r in ROWS]))
        encoding = "cp1252"
    result = reconcile.reconcile(manager, path, encoding)
    groups, rows = _counts(result)
    assert groups == {"a": 2, "b": 1, "c": 1, "d": 2}
    assert rows == {"b": 2, "c": 1, "d": 2} and sum(rows.values()) == result.rows == len(ROWS)
    by_group = {(i.category, i.nhs) for i in result.items}
    assert by_group == {("a", N[1]), ("a", N[5]), ("b", N[2]), ("c", N[3]), ("d", N[0]), ("d", N[4])}
    differ = next(i for i in result.items if i.category == "c")
    assert differ.register == "not objecting (withdrawn)" and differ.clinical.startswith("objecting")
    assert "accounted for: 2 + 1 + 2 = 5" in result.describe()
    assert result.not_coded_overdue  # B and F were recorded 2 Nov: due 9 Nov

    # (d) agreeing events are confirmed by the run; (a), (c) are not; the tick stays a claim.
    def state(key):
        return [e.coding_state for e in events_store.history(manager.register.conn, ids[key])]

    assert state("A") == ["confirmed"] and state("E") == ["confirmed"]
    assert state("B") == ["pending"] and state("F") == ["marked"] and state("D") == ["pending", "pending"]
    a_event = events_store.history(manager.register.conn, ids["A"])[0]
    assert a_event.confirmed_by == f"reconciliation {result.run_id}" and a_event.confirmed_at.date() == date(2026, 11, 12)
    assert {i.nhs_number for i in coding.worklist(manager).items} == {N[1], N[3], N[5]}

    # Audited: the run with its counts and a digest of exactly the events it confirmed (they carry
    # its name); no identifiers in the row.
    run = audit.query(manager, action="reconcile.run")[0]
    assert "a=2 b=1 c=1 d=2 confirmed=2" in run.detail and N[0] not in run.detail
    by_run = [r[0] for r in manager.register.conn.execute(
        "SELECT id FROM events WHERE confirmed_by = ?", (f"reconciliation {result.run_id}",))]
    assert len(by_run) == 2 and f"sha256={reconcile.confirmed_digest(by_run, [], [])}" in run.detail
    assert f"sha256={reconcile.confirmed_digest(by_run[:1], [], [])}" not in run.detail

    # The overview shows the last run, red because (a) holds something past the target.
    o = overview.overview(manager)
    assert (o.reconciliation.not_coded, o.reconciliation.not_in_register, o.reconciliation.differ) == (2, 1, 1)
    assert o.reconciliation.overdue

    # (b) in one step: the ordinary import, confirmed; a second run finds nothing in (b).
    change = reconcile.import_missing(manager, result)
    assert "1 new patient added" in change.summary
    cole = patients.by_nhs(manager, N[2])
    assert [e.coding_state for e in events_store.history(manager.register.conn, cole.patient_id)] == ["confirmed"] * 2
    again = reconcile.reconcile(manager, path, encoding)
    assert _counts(again)[0] == {"a": 2, "b": 0, "c": 1, "d": 3} and again.confirmed == 0


def test_report_csv_lists_every_item(manager, add_patient, tmp_path):
    _register(manager, add_patient)
    path = tmp_path / "export.csv"
    path.write_bytes(emis_export(ROWS))
    result = reconcile.reconcile(manager, path)
    out = reconcile.write_report(manager, result, tmp_path / "report.csv")
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert tuple(rows[0]) == reconcile.REPORT_COLUMNS
    assert len(rows) == len(result.items) == 6
    assert [r["category"] for r in rows] == ["a", "a", "c", "b", "d", "d"]  # not coded first
    cole = next(r for r in rows if r["category"] == "b")
    assert cole["nhs_number"] == display(N[2]) and cole["export_rows"] == "3 4"
    (logged,) = audit.query(manager, action="reconcile.report")
    assert logged.detail == f"run={result.run_id} rows=6"


def test_windows_1252_is_refused_unless_asked_for(manager, add_patient, tmp_path):
    _register(manager, add_patient)
    path = tmp_path / "s1.csv"
    path.write_bytes(systmone_export(ROWS[:1] ))  # "Siân" in Windows-1252 is not UTF-8
    with pytest.raises(ImportRefused, match="not UTF-8.*--encoding cp1252.*Nothing was changed"):
        reconcile.reconcile(manager, path)
    assert audit.query(manager, action="reconcile.run") == []
    result = reconcile.reconcile(manager, path, "cp1252")
    assert "read as Windows-1252" in result.describe() and "semicolon-separated" in result.describe()
    assert result.count("d") == 1


def test_utf8_semicolons_are_read_and_said(manager, add_patient, tmp_path):
    _register(manager, add_patient)
    path = tmp_path / "s1.csv"
    path.write_bytes(systmone_export(ROWS, encoding="utf-8"))
    result = reconcile.reconcile(manager, path)
    assert result.delimiter == ";" and result.encoding == "utf-8" and result.rows == 5


def test_bad_rows_refused_by_row_number_with_nothing_changed_and_nothing_echoed(manager, add_patient, tmp_path):
    ids = _register(manager, add_patient)
    bad = list(ROWS)
    bad[1] = (N[2], "Cole", "Ann", date(1970, 7, 7), "LS1 4AP", "93C3.", date(2019, 4, 1))  # Summary Care Record
    bad[3] = ("9990000000", "Dee", "Ruth", date(1966, 6, 6), "LS1 4AP", T1, date(2026, 10, 30))
    bad.append((N[0], "Ap Rhys", "Siân", date(1951, 2, 3), "LS1 4AP", T1, date(2026, 10, 30)))  # another dob
    path = tmp_path / "bad.csv"
    path.write_bytes(emis_export(bad))
    before = manager.revision()
    with pytest.raises(ImportRefused) as info:
        reconcile.reconcile(manager, path)
    rows = [p.row for p in info.value.problems]
    assert rows == [3, 5]
    assert "cannot be reconciled, so nothing was changed" in str(info.value)
    text = str(info.value) + " ".join(str(p) for p in info.value.problems)
    for secret in ("Cole", "Dee", "Ruth", "9990000000", N[2]):
        assert secret not in text
    assert manager.revision() == before and audit.query(manager, action="reconcile.run") == []
    assert events_store.history(manager.register.conn, ids["A"])[0].coding_state == "pending"

    # Every row readable, but one NHS number with two dates of birth: refused too.
    bad2 = list(ROWS) + [(N[0], "Ap Rhys", "Siân", date(1951, 2, 3), "LS1 4AP", T1, date(2026, 10, 31))]
    path.write_bytes(emis_export(bad2))
    with pytest.raises(ImportRefused) as info:
        reconcile.reconcile(manager, path)
    assert [p.row for p in info.value.problems] == [7] and "Siân" not in str(info.value.problems[0])
    assert manager.revision() == before


def test_empty_and_headerless_files_are_refused(manager, tmp_path):
    path = tmp_path / "e.csv"
    path.write_bytes(b"")
    with pytest.raises(ImportRefused, match="empty"):
        reconcile.reconcile(manager, path)
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(ImportRefused, match="missing: NHS number"):
        reconcile.reconcile(manager, path)
    with pytest.raises(ImportRefused, match="cannot be read"):
        reconcile.reconcile(manager, tmp_path / "absent.csv")


def test_receptionist_may_not_reconcile(manager, register_dir, tmp_path, add_patient):
    from gp_optout_desktop.domain.roles import PermissionDenied
    from gp_optout_desktop.services import session as session_service, users

    _register(manager, add_patient)
    users.add(manager, "desk", "receptionist", "desk-password-1")
    manager.lock()
    desk = session_service.unlock(register_dir, "desk", "desk-password-1")
    path = tmp_path / "export.csv"
    path.write_bytes(emis_export(ROWS))
    with pytest.raises(PermissionDenied):
        reconcile.reconcile(desk, path)
    desk.lock()


def test_cli_reconcile(cli_pm, tmp_path):
    assert cli_pm("patient", "add", "--nhs", N[0], "--surname", "Ap Rhys", "--forenames", "Siân", "--dob",
                  "1950-02-03", "--postcode", "ls1 4ap")[0] == 0
    assert cli_pm("object", "--nhs", N[0], "--via", "post", "--effective", "2026-10-30")[0] == 0
    path = tmp_path / "export.csv"
    path.write_bytes(systmone_export([(N[0], "Ap Rhys", "Siân", date(1950, 2, 3), "LS1 4AP", "XaZ89",
                                       date(2026, 10, 30)), ROWS[1]]))
    code, out, err = cli_pm("reconcile", "--from", str(path))
    assert code == 1 and "--encoding cp1252" in err and "Siân" not in err
    report = tmp_path / "report.csv"
    code, out, err = cli_pm("reconcile", "--from", str(path), "--encoding", "cp1252", "--out", str(report),
                            "--import-missing")
    assert code == 0, err
    assert "(d) 1 agreeing" in out and "(b) 1 in the clinical system" in out and "Imported 1 row" in out
    assert display(N[0]) not in out and display(N[0]) in report.read_text(encoding="utf-8-sig")
    code, out, err = cli_pm("coding", "worklist")
    assert "Nothing to code" in out


def test_a_code_matched_only_by_ignoring_case_is_said_by_row(manager, add_patient, tmp_path):
    fixed(manager, date(2026, 11, 2))
    pid = add_patient(manager, surname="Case", forenames="Pat", dob="1960-01-01", nhs=N[6])
    objections.record(manager, pid, effective=date(2026, 10, 1))
    objections.record(manager, pid, action="withdraw")
    path = tmp_path / "s1.csv"
    path.write_bytes(systmone_export([(N[6], "Case", "Pat", date(1960, 1, 1), "LS1 4AP", "XaZ89", date(2026, 10, 1)),
                                      (N[6], "Case", "Pat", date(1960, 1, 1), "LS1 4AP", "XAZ8A", date(2026, 11, 2))],
                                     encoding="utf-8"))
    result = reconcile.reconcile(manager, path)
    assert "1 row (3) matched a code only by ignoring letter case" in result.describe()
    assert result.count("d") == 1
