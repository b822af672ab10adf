"""The exclusion file's rows on both engines (ADR 0015): the snapshot (services/exclusion.py)
read through the seam gives the same rows, mode and counts from a register file and from a
practice on the PostgreSQL server, and the writer makes the same file from either, in the
default mode and with the practice-wide opt-out on."""

from __future__ import annotations

import itertools
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from gp_optout_desktop.domain import codes
from gp_optout_desktop.domain.events import INCLUDE
from gp_optout_desktop.domain.exclusion_rules import EXCLUDE_ALL_EXCEPT_LISTED, EXCLUDE_LISTED
from gp_optout_desktop.exclusion import signing
from gp_optout_desktop.exclusion.writer import write_export
from gp_optout_desktop.services import exclusion, objections, patients
from tests.services.conftest import Backend

START = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)
KEY = signing.generate_private_key()  # one key for both engines: the signature is not what is compared


def _files(snap: exclusion.Snapshot, out: Path) -> dict[str, object]:
    """The written generation's files; the manifest as JSON without the fields that name this
    engine's audit chain and revision (the revision compared as moved since the start) or the signature."""
    write_export(out, snap.rows, private_key=KEY, practice_ods=snap.ods, register_revision=snap.revision,
                 mode=snap.mode, audit_chain_head=snap.audit_head, generated_at=START,
                 objectors_without_nhs_number=snap.without_nhs, expected_count=snap.expected_count)
    gen = out / (out / "CURRENT").read_text().strip()
    found: dict[str, object] = {}
    for f in sorted(gen.iterdir()):
        if f.suffix == ".json":
            data = json.loads(f.read_text())
            found[f.name] = {k: v for k, v in data.items() if k not in ("audit_chain_head", "register_revision", "signature")}
        elif f.suffix != ".sig":
            found[f.name] = f.read_bytes()
    return found


def exclusion_work(backend: Backend, out: Path) -> list:
    session = backend.manager
    seconds = itertools.count()
    session.clock = lambda: START + timedelta(seconds=next(seconds))

    def add(surname, nhs):
        return patients.add(session, surname=surname, forenames="Sam", nhs=nhs, dob="1970-05-05",
                            postcode_raw="LS1 4AP", address=["1 Leaf Lane", "Leeds"]).data["patient_id"]

    base = [session.revision()]

    def seen_now(name):
        snap = exclusion.snapshot(session)
        return (snap.mode, snap.rows, snap.expected_count, snap.without_nhs, snap.ods, _files(snap, out / name),
                snap.revision - base[0], snap.audit_head != "0:genesis")

    seen = [seen_now("empty")]
    a, b, c = add("Alpha", "9990000069"), add("Beta", "9990000018"), add("Nonumber", None)
    d, e, f = add("Withdrawn", "9990000026"), add("Legacy", "9990000034"), add("Includer", "9990000042")
    add("Nothing", "9990000050")
    objections.record(session, a, effective=date(2025, 11, 10), received=date(2025, 11, 10))
    objections.record(session, b, effective=date(2026, 1, 5), received=date(2026, 1, 5))
    objections.record(session, c)
    objections.record(session, d)
    objections.record(session, d, action=codes.WITHDRAW)
    seen.append(seen_now("listed"))
    backend.practice_optout_on(date(2026, 3, 2))
    base[0] = session.revision()  # the file's set-up adds a GP user first: count from here
    objections.record(session, f, INCLUDE, codes.REGISTER)
    objections.record(session, a, INCLUDE, codes.REGISTER)  # objects too: not listed as included
    seen.append(seen_now("practice_wide"))
    return seen


@pytest.mark.server
def test_the_exclusion_file_is_the_same_from_both_engines_for_the_same_data(both_engines, tmp_path):
    engines = both_engines
    results = []
    for engine in engines:
        (tmp_path / engine.name).mkdir()
        results.append(exclusion_work(engine, tmp_path / engine.name))
    file_seen, server_seen = results
    assert len(file_seen) == len(server_seen) == 3
    for i, (a, b) in enumerate(zip(file_seen, server_seen)):
        assert a == b, f"stage {i}"
    empty, listed, practice_wide = file_seen
    assert empty[:4] == (EXCLUDE_LISTED, [], 0, 0) and empty[4] == "F84003"
    assert listed[0] == EXCLUDE_LISTED and [r.nhs_number for r in listed[1]] == ["9990000069", "9990000018"]
    assert listed[2:4] == (2, 1)  # the one with no NHS number counted apart
    assert [r.effective for r in listed[1]] == [date(2025, 11, 10), date(2026, 1, 5)]
    assert practice_wide[0] == EXCLUDE_ALL_EXCEPT_LISTED
    assert [r.nhs_number for r in practice_wide[1]] == ["9990000042"] and practice_wide[2:4] == (1, 0)
    assert len(listed[5]) >= 2 and any(isinstance(v, bytes) and b"9990000069" in v for v in listed[5].values())


def test_exporting_without_the_manager_key_on_the_server_says_so_and_writes_nothing(backend, add_patient, tmp_path):
    """The rows are the same on both engines (above); signing them needs the signing key, which
    either engine keeps under the manager key (ADR 0015 addendum, signing on the server). This
    server session was opened with the data key only (no manager slot): it is told in one
    sentence and no file is written. The signed export on the server:
    tests/server/test_server_exclusion_signing.py."""
    from gp_optout_desktop.exclusion.errors import ExportError

    session = backend.manager
    objections.record(session, add_patient(session))
    if backend.name == "sqlcipher":
        assert exclusion.export(session, tmp_path / "out").data["record"]["rows"] == 1
        return
    with pytest.raises(ExportError, match="does not hold the manager key"):
        exclusion.export(session, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_national_check_file_is_built_from_a_server_register_as_from_a_file(backend, add_patient, tmp_path):
    """exclusion.national_check reads the same snapshot: it now runs on either engine, with the
    same file written and the same audit entry (counts only, no NHS number)."""
    from gp_optout_desktop.exclusion import format as fmt

    session = backend.manager
    objector, withdrawn, _nobody = (add_patient(session, nhs=n) for n in ("9990000018", "9990000026", "9990000034"))
    objections.record(session, objector)
    objections.record(session, withdrawn)
    objections.record(session, withdrawn, action=codes.WITHDRAW)
    cohort = tmp_path / "cohort.csv"
    cohort.write_text("Patient,NHS Number\r\np0,999 000 0034\r\np1,999 000 0018\r\np2,999 000 0026\r\n",
                      encoding="utf-8")
    change = exclusion.national_check(session, cohort, tmp_path / "national.csv")
    assert fmt.parse_national((tmp_path / "national.csv").read_bytes()) == ["9990000034", "9990000026"]
    assert change.data == {"cohort": 3, "removed": 1, "written": 2}
    last = backend.audit_rows()[-1]
    assert last[3:] == ("exclusion.national_check", "", "ok",
                        f"cohort=3 removed=1 written=2 revision={change.revision} mode={EXCLUDE_LISTED}")
