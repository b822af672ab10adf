"""Exclusion file screen: export now, status in words (out of date and why), public key;
a missing or full destination shows the error and keeps the previous file."""

from __future__ import annotations

import errno
import os

import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.exclusion import reader, signing
from gp_optout_desktop.services import exclusion as exclusion_service, objections
from gp_optout_desktop.ui import dialogs
from gp_optout_desktop.ui.bus import ChangeBus
from gp_optout_desktop.ui.screens import SCREENS, _paths, exclusion as exclusion_screen
from tests.ui.helpers import wait_idle


@pytest.fixture
def screen(qtbot, demo):
    widget = exclusion_screen.create(lambda: demo, ChangeBus())
    qtbot.addWidget(widget)
    widget.show()
    wait_idle(qtbot, widget)
    return widget


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def export_via_screen(qtbot, screen, folder):
    _paths.set_next_path(folder)
    screen.choose_button.click()
    screen.export_button.click()
    wait_idle(qtbot, screen)


def test_export_now_then_out_of_date_after_a_change(qtbot, screen, demo, tmp_path, add_patient):
    assert screen.verdict == "never" and "never been written" in screen.verdict_label.text()
    out = tmp_path / "exports"
    out.mkdir()
    export_via_screen(qtbot, screen, out)
    assert "Exclusion file written" in screen.status.text(), screen.status.text()
    qtbot.waitUntil(lambda: screen.verdict == "current")
    key, _kid = exclusion_service.public_key_pem(demo)
    written = reader.read_export(out, signing.load_public_key_pem(key), practice_ods="Y99999",
                                 state_path=tmp_path / "consult-state.json")
    assert f"How many patients: {len(written.rows):,}" in screen.summary.text()
    assert str(out.resolve()) in screen.summary.text() and "Up to date" in screen.verdict_label.text()

    objections.record(demo, add_patient(demo))  # one more objector: the file no longer matches
    screen.refresh()
    wait_idle(qtbot, screen)
    assert screen.verdict == "out_of_date"
    assert "OUT OF DATE: the register has changed 2 times since it was written" in screen.verdict_label.text()
    screen.export_button.click()  # the remembered folder
    wait_idle(qtbot, screen)
    qtbot.waitUntil(lambda: screen.verdict == "current")
    again = reader.read_export(out, signing.load_public_key_pem(key), practice_ods="Y99999",
                                 state_path=tmp_path / "consult-state.json")
    assert len(again.rows) == len(written.rows) + 1


def test_missing_destination_is_an_error_and_the_previous_file_stays(qtbot, screen, tmp_path):
    out = tmp_path / "usb" / "exports"
    out.mkdir(parents=True)
    export_via_screen(qtbot, screen, out)
    qtbot.waitUntil(lambda: screen.verdict == "current")
    before = snapshot(out)
    (tmp_path / "usb").rename(tmp_path / "unplugged")  # the drive is gone
    screen.export_button.click()
    wait_idle(qtbot, screen)
    assert "does not exist" in screen.status.text() and "unchanged" in screen.status.text()
    assert not (tmp_path / "usb").exists()  # nothing was created in its place
    (tmp_path / "unplugged").rename(tmp_path / "usb")
    assert snapshot(out) == before
    assert screen.verdict == "current"


def test_full_destination_is_an_error_and_the_previous_file_stays(qtbot, screen, demo, tmp_path, monkeypatch,
                                                                  add_patient):
    out = tmp_path / "exports"
    out.mkdir()
    export_via_screen(qtbot, screen, out)
    qtbot.waitUntil(lambda: screen.verdict == "current")
    before = snapshot(out)
    objections.record(demo, add_patient(demo))

    def full(*_args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    screen.export_button.click()
    wait_idle(qtbot, screen)
    monkeypatch.undo()
    assert "previous exclusion set is still the current one" in screen.status.text()
    assert "No space left on device" in screen.status.text()
    assert snapshot(out) == before
    screen.refresh()
    wait_idle(qtbot, screen)
    assert screen.verdict == "out_of_date"


def test_public_key_export(qtbot, screen, demo, tmp_path):
    target = tmp_path / "key.pem"
    _paths.set_next_path(target)
    screen.key_button.click()
    wait_idle(qtbot, screen)
    pem, kid = exclusion_service.public_key_pem(demo)
    assert target.read_bytes() == pem and kid in screen.status.text()


def test_exclusion_screen_hidden_from_and_refused_to_other_roles(demo, tmp_path):
    out = tmp_path / "exports"
    out.mkdir()
    spec = next(s for s in SCREENS if s.title == exclusion_screen.TITLE)
    assert spec.permission == "export"
    assert [r for r in roles.ROLES if roles.allowed(r, spec.permission)] == [roles.MANAGER]
    for role in (roles.RECEPTIONIST, roles.GP):
        demo.role = role
        with pytest.raises(PermissionError):
            exclusion_service.export(demo, out)
        with pytest.raises(PermissionError):
            exclusion_service.export_public_key(demo, out / "k.pem")
    assert list(out.iterdir()) == []


def test_replace_the_signing_key_after_confirmation(qtbot, screen, demo, tmp_path):
    from gp_optout_desktop.services import exclusion as exclusion_service

    before = exclusion_service.public_key_pem(demo)[1]
    dialogs.set_next_answer("Cancel")
    screen.replace_key_button.click()
    assert exclusion_service.public_key_pem(demo)[1] == before
    dialogs.set_next_answer("Replace the key")
    screen.replace_key_button.click()
    wait_idle(qtbot, screen)
    after = exclusion_service.public_key_pem(demo)[1]
    assert after != before and f"New signing key {after}" in screen.status.text()
