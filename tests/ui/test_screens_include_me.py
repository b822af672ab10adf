"""The include-me action part 1's patient view can call: confirmed, recorded, letter queued."""

from __future__ import annotations

import pytest

from gp_optout_desktop.domain.events import INCLUDE
from gp_optout_desktop.services import letters as letters_service, patients
from gp_optout_desktop.ui import dialogs, worker
from gp_optout_desktop.ui.bus import ChangeBus
from gp_optout_desktop.ui.screens import include_me


def test_cancel_records_nothing(manager, add_patient):
    pid = add_patient(manager)
    dialogs.set_next_answer("Cancel")
    assert include_me.ask_and_record(None, manager, ChangeBus(), pid, "Alex Testperson", True) is False
    assert not patients.view(manager, pid).statuses[INCLUDE].active


def test_recorded_published_and_letter_queued(qtbot, manager, add_patient):
    pid = add_patient(manager)
    bus, seen, results = ChangeBus(), [], []
    bus.changed.connect(seen.append)
    dialogs.set_next_answer("Record request")
    dialogs.set_next_answer("OK")
    assert include_me.ask_and_record(None, manager, bus, pid, "Alex Testperson", False, done=results.append)
    qtbot.waitUntil(lambda: bool(results), timeout=10000)
    worker.wait()
    assert patients.view(manager, pid).statuses[INCLUDE].active
    assert seen and pid in seen[0].patient_ids
    assert [p.kind for p in letters_service.pending(manager) if p.patient_id == pid] == ["include_received"]
    assert "changes nothing until a GP turns it on" in dialogs.shown[0][1]


def test_second_request_is_refused_in_words(qtbot, manager, add_patient):
    pid = add_patient(manager)
    results = []
    for answer in ("Record request", "OK", "Record request", "OK"):
        dialogs.set_next_answer(answer)
    include_me.ask_and_record(None, manager, None, pid, "Alex", True, done=results.append)
    qtbot.waitUntil(lambda: len(results) == 1, timeout=10000)
    include_me.ask_and_record(None, manager, None, pid, "Alex", True, done=results.append)
    qtbot.waitUntil(lambda: len(results) == 2, timeout=10000)
    assert isinstance(results[1], Exception)
    assert dialogs.shown[-1][1].startswith("Not recorded: Already recorded")
