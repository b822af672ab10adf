"""The national-check file is built from the cohort the practice is about to disclose, Type 1
objectors taken out (issue 10 section 5), through a real register; CLI included."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from gp_optout_desktop import cli
from gp_optout_desktop.domain import roles
from gp_optout_desktop.domain.nhs_number import synthetic_range
from gp_optout_desktop.exclusion import format as fmt
from gp_optout_desktop.exclusion.errors import CandidateFileError
from gp_optout_desktop.services import audit, exclusion, objections, session as session_service, users
from gp_optout_desktop.services.session import Session

N = synthetic_range(660_000)[-8:]


def _on(session, day):
    return Session(session.register, session.user, session.role,
                   clock=lambda: datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc))


@pytest.fixture
def people(manager, add_patient):
    """N[0] Type 1, N[1] Type 1 withdrawn, N[2] legacy Type 2 only, N[3] nothing recorded."""
    ids = [add_patient(manager, nhs=n, surname=f"Cohort{i}") for i, n in enumerate(N[:4])]
    objections.record(manager, ids[0], effective=date(2024, 1, 2))
    objections.record(manager, ids[1], effective=date(2024, 1, 2))
    objections.record(manager, ids[1], action="withdraw")
    objections.record(_on(manager, date(2018, 10, 1)), ids[2], "type2", effective=date(2017, 1, 1))
    return ids


def test_type1_objectors_are_taken_out_of_the_cohort_and_nothing_else(manager, people, tmp_path):
    cohort = tmp_path / "cohort.csv"
    cohort.write_text("\ufeffPatient,NHS Number\r\n" + "".join(f"p{i},{n[:3]} {n[3:6]} {n[6:]}\r\n"
                                                              for i, n in enumerate([N[3], N[0], N[2], N[1], N[0], N[5]])),
                      encoding="utf-8")
    change = exclusion.national_check(manager, cohort, tmp_path / "national.csv")
    written = fmt.parse_national((tmp_path / "national.csv").read_bytes())
    assert written == [N[3], N[2], N[1], N[5]]  # cohort order, each once; Type 2-only and withdrawn stay in
    assert change.data == {"cohort": 5, "removed": 1, "written": 4}
    assert "4 of 5 NHS numbers" in change.summary and all(n not in change.summary for n in N)
    entry = audit.query(manager, action="exclusion.national_check")[0]
    assert "cohort=5 removed=1 written=4" in entry.detail and all(n not in entry.detail for n in N)


def test_under_the_practice_wide_opt_out_only_includers_are_sent(manager, people, register_dir, tmp_path):
    users.add(manager, "drgp", roles.GP, "drgp-password-1")
    gp = Session(manager.register, "drgp", roles.GP, clock=manager.clock)
    exclusion.set_practice_optout(gp, "on", "Partners' decision", manager.today())
    exclusion.opt_in(manager, N[3])
    cohort = tmp_path / "cohort.csv"
    cohort.write_text("nhs_number\n" + "".join(f"{n}\n" for n in N[:4]))
    exclusion.national_check(manager, cohort, tmp_path / "national.csv")
    assert fmt.parse_national((tmp_path / "national.csv").read_bytes()) == [N[3]]


def test_a_bad_cohort_writes_nothing_and_names_rows_only(manager, people, tmp_path):
    out = tmp_path / "national.csv"
    cohort = tmp_path / "cohort.csv"
    cohort.write_text(f"nhs_number,x\n{N[3]},a\n9990000011,b\n{N[2]}\n")
    with pytest.raises(CandidateFileError) as err:
        exclusion.national_check(manager, cohort, out)
    text = str(err.value)
    assert "2 row(s)" in text and "row 3:" in text and "row 4: has 1 fields" in text and "nothing was written" in text
    assert "9990000011" not in text and N[3] not in text and not out.exists()
    cohort.write_text("surname\nSmith\n")
    with pytest.raises(CandidateFileError, match="no NHS number column"):
        exclusion.national_check(manager, cohort, out)


def test_only_the_practice_manager_may_build_it(manager, people, register_dir, tmp_path):
    users.add(manager, "desk", roles.RECEPTIONIST, "desk-password-1")
    manager.lock()
    desk = session_service.unlock(register_dir, "desk", "desk-password-1")
    (tmp_path / "c.csv").write_text(f"nhs_number\n{N[3]}\n")
    try:
        with pytest.raises(PermissionError, match="may not write the exclusion file"):
            exclusion.national_check(desk, tmp_path / "c.csv", tmp_path / "n.csv")
    finally:
        desk.lock()
    assert not (tmp_path / "n.csv").exists()


def run(monkeypatch, register_dir, *argv):
    monkeypatch.setenv("GP_OPTOUT_PASSWORD", "pm-password-1")
    return cli.main(["--register", str(register_dir), "--user", "pm", *argv])


def test_cli_national_check_and_the_old_flag_refused(manager, people, register_dir, tmp_path, monkeypatch, capsys):
    manager.lock()
    (tmp_path / "c.csv").write_text(f"nhs_number\n{N[0]}\n{N[3]}\n")
    assert run(monkeypatch, register_dir, "national-check", "--cohort", str(tmp_path / "c.csv"),
               "--out", str(tmp_path / "n.csv")) == 0
    out = capsys.readouterr().out
    assert "1 of 2 NHS numbers" in out and N[0] not in out and N[3] not in out
    assert (tmp_path / "n.csv").read_text() == f"{N[3]},\n"
    assert run(monkeypatch, register_dir, "export", "--out", str(tmp_path / "x"), "--national-list") == 1
    err = capsys.readouterr().err
    assert "national-check --cohort" in err and err.count("\n") == 1 and not (tmp_path / "x").exists()
    assert run(monkeypatch, register_dir, "export", "--out", str(tmp_path / "x"), "--valid-days", "32") == 1
    assert "from 1 to 31" in capsys.readouterr().err
