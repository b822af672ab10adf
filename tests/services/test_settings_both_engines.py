"""Practice settings on both engines (ADR 0015 addendum srvrest15): the idle-lock time and the
letterhead read and saved through the seam give the same results, the same refusals and the
same audit entries on a register file and on a practice on the PostgreSQL server (its meta
rows); the ODS code stays as it was created; a letter's practice details follow the save."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.services import settings
from tests.services.conftest import Backend

START = datetime(2026, 4, 1, 9, 0, tzinfo=timezone.utc)
NEW = {"name": "Riverside Surgery", "address": ["2 River Road", "Leeds", "LS1 4AP"], "phone": "01632 960002",
       "email": "riverside@example.invalid"}


def settings_work(backend: Backend) -> list:
    session = backend.manager
    ticks = itertools.count()
    session.clock = lambda: START + timedelta(seconds=next(ticks))
    before = len(backend.audit_rows())
    seen: list = [settings.idle_lock_minutes(session), settings.practice_details(session)]

    def attempt(fn, *args, **kwargs):
        revision = session.revision()
        try:
            change = fn(session, *args, **kwargs)
            seen.append(("ok", change.summary, change.data))
        except (ValidationError, roles.PermissionDenied) as exc:
            seen.append(("refused", str(exc)))
        seen.append((session.revision() == revision, settings.idle_lock_minutes(session),
                     settings.practice_details(session)))

    attempt(settings.set_idle_lock_minutes, 16)
    attempt(settings.set_idle_lock_minutes, 0)
    attempt(settings.set_idle_lock_minutes, 12)
    attempt(settings.set_practice_details, name="  ", address=NEW["address"])
    attempt(settings.set_practice_details, **{**NEW, "email": "no-at-sign"})
    attempt(settings.set_practice_details, **NEW)
    desk = backend.session("rita", roles.RECEPTIONIST)
    seen.append(("receptionist reads", settings.idle_lock_minutes(desk), settings.practice_details(desk)))
    for change in (lambda: settings.set_idle_lock_minutes(desk, 3),
                   lambda: settings.set_practice_details(desk, name="Not Allowed")):
        with pytest.raises(roles.PermissionDenied) as refused:
            change()
        seen.append(("receptionist refused", str(refused.value)))
    seen.append(settings.idle_lock_minutes(session))
    seen.append([r[1:4] + r[5:] for r in backend.audit_rows()[before:] if r[3].startswith(("settings.", "denied"))])
    return seen


@pytest.mark.server
def test_the_practice_settings_are_the_same_on_both_engines(both_engines):
    file_run, server_run = (settings_work(engine) for engine in both_engines)
    assert file_run == server_run
    assert file_run[0] == settings.DEFAULT_IDLE_LOCK_MINUTES
    assert file_run[1]["name"] == "Test Surgery" and file_run[1]["ods"] == "F84003"
    assert [step[0] for step in file_run[2:14:2]] == ["refused", "refused", "ok", "refused", "refused", "ok"]
    after = file_run[13]
    assert after[1] == 12 and after[2] == {**NEW, "ods": "F84003"}  # saved; the ODS code as created
    assert file_run[14] == ("receptionist reads", 12, {**NEW, "ods": "F84003"})
    assert file_run[-2] == 12  # the receptionist's tries changed nothing
    assert [entry[2] for entry in file_run[-1]] == ["settings.idle_lock", "settings.practice", "denied.settings",
                                                    "denied.settings"]
