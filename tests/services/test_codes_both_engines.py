"""The practice's corrections of the objection code table on both engines (ADR 0015 addendum
srvrest15): the same script of saves, refusals and a reset gives the same results, the same
table in force and the same audit entries on a register file and on a practice on the
PostgreSQL server (its code_tables rows)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.services import codes
from tests.services.conftest import Backend
from tests.services.test_code_table import corrected

START = datetime(2026, 4, 1, 9, 0, tzinfo=timezone.utc)


def codes_work(backend: Backend) -> list:
    session = backend.manager
    ticks = itertools.count()
    session.clock = lambda: START + timedelta(seconds=next(ticks))
    seen: list = []
    before = len(backend.audit_rows())

    def attempt(fn, *args):
        revision = session.revision()
        try:
            seen.append(("ok", fn(session, *args).summary, session.revision() > revision))
        except (ValidationError, roles.PermissionDenied) as exc:
            seen.append(("refused", str(exc), session.revision() == revision))
        force = codes.in_force(session)
        seen.append((force.version, force.text, force.saved, session.codes.lookup("type1", "withdraw").ctv3))

    attempt(codes.reset, "nothing saved yet")  # the shipped table is already in force
    attempt(codes.save, "{not json", "a broken file")
    attempt(codes.save, corrected(ctv3="XaZ8A", verify=["snomed"]), "   ")  # no reason
    attempt(codes.save, corrected(ctv3="XaZ8A", verify=["snomed"]), "CSO confirmed XaZ8A")
    attempt(codes.save, corrected(ctv3="XaZ8A", verify=["snomed"]), "the same again")
    attempt(codes.save, corrected(meaning="Type 1 objection withdrawn (corrected wording)"), "wording")
    attempt(codes.reset, "back to the release's table")
    gp = backend.session("gp", roles.GP)
    try:
        codes.save(gp, corrected(ctv3="XaZ8A"), "a GP may not")
    except roles.PermissionDenied as exc:
        seen.append(("gp refused", str(exc)))
    seen.append(codes.history(session))
    # The audit entries after the start, as (user, role, action, outcome, detail); the GP's
    # set-up (a user added on the file) is not a code-table entry.
    seen.append([r[1:4] + r[5:] for r in backend.audit_rows()[before:] if r[3].startswith(("codes.", "denied"))])
    return seen


@pytest.mark.server
def test_the_code_table_corrections_are_the_same_on_both_engines(both_engines):
    file_run, server_run = (codes_work(engine) for engine in both_engines)
    assert file_run == server_run
    outcomes = [step[0] for step in file_run[:14:2]]
    assert outcomes == ["refused", "refused", "refused", "ok", "refused", "ok", "ok"]
    assert all(step[2] for step in file_run[:14:2])  # a save moves the revision on, a refusal does not
    versions = file_run[-2]
    assert [(v.version, v.text is None, v.reason) for v in versions] == [
        (1, False, "CSO confirmed XaZ8A"), (2, False, "wording"), (3, True, "back to the release's table")]
    assert [entry[2] for entry in file_run[-1]] == ["codes.save", "codes.save", "codes.reset", "denied.edit_codes"]
    assert file_run[7][3] == "XaZ8A" and file_run[13][3] == "XaZ8a"  # in force at once, then the shipped one
