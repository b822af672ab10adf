"""The Exclusion file screen on a server register (ADR 0015 addendum srvrest15): the real main
window signed in as a practice manager on the real PostgreSQL the tests start, exporting the
signed file from the screen; the file verifies with the practice's public key; the status line
then says up to date, and the front desk's patient view knows what the file holds. Replacing the
signing key works there too (the old public key kept as retired). A receptionist has no such
screen and the service refuses them."""

from __future__ import annotations

import time

import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.exclusion import reader, signing
from gp_optout_desktop.services import exclusion, exclusion_server, objections, server_session
from gp_optout_desktop.ui import dialogs
from gp_optout_desktop.ui.screens import _paths
from tests.server import accounts
from tests.ui.helpers import wait_idle
from tests.ui.test_server_desk import _open
from tests.ui.test_server_screens import _objectors, _screen, _signed_in, server  # noqa: F401  (server: the fixture)

pytestmark = pytest.mark.server


def test_a_manager_exports_from_the_screen_on_the_server(qtbot, settings, pg_db, server, tmp_path):  # noqa: F811
    made = _objectors(server, 2, 770_000)
    window = _signed_in(qtbot, settings, pg_db, server.mo, "mo-password-1")
    screen = _screen(qtbot, window, "Exclusion file")
    assert screen.verdict == "never" and screen.status.text() == "", screen.status.text()

    out = tmp_path / "exports"
    out.mkdir()
    _paths.set_next_path(out)
    screen.choose_button.click()
    screen.export_button.click()
    wait_idle(qtbot, screen)
    assert "Exclusion file written" in screen.status.text(), screen.status.text()
    qtbot.waitUntil(lambda: screen.verdict == "current")
    assert "Up to date" in screen.verdict_label.text() and "How many patients: 2 " in screen.summary.text()
    assert exclusion.status(server.manager).startswith("Exclusion file: up to date (2 listed")  # another desk

    key_file = tmp_path / "key.pem"
    _paths.set_next_path(key_file)
    screen.key_button.click()
    wait_idle(qtbot, screen)
    assert key_file.exists(), screen.status.text()
    written = reader.read_export(out, signing.load_public_key_pem(key_file.read_bytes()), practice_ods="F84003",
                                 state_path=tmp_path / "consult-state.json")
    assert len(written.rows) == 2

    actions = [r[3] for r in server.audit()]
    assert "exclusion.export" in actions and "export.public_key" in actions

    # The front desk's patient view reads the same record: exported, so no "changed since" note;
    # a later change at another desk brings it back.
    (pid, number), = made[:1]
    window.nav.setCurrentRow(0)
    _open(qtbot, window, number)
    view = window.desk.patient
    qtbot.waitUntil(lambda: view.record_data is not None and view.patient_id == pid)
    assert "Changed since the exclusion file was last written" not in view.local_effect.text()
    assert view.message.text() == ""
    time.sleep(1.1)  # the file's record keeps whole seconds (format_ts): a change in a later one
    objections.record(server.manager, pid, action="withdraw")
    window.desk.to_search()
    _open(qtbot, window, number)
    qtbot.waitUntil(lambda: "Changed since the exclusion file was last written" in view.local_effect.text())
    # Replace the signing key (ADR 0015 addendum "replacing the signing key on the server"): after
    # the question, a new key; the file written before still verifies with the retired key kept
    # on the server, and the status says the file is out of date until it is written again.
    old_id = signing.key_id(signing.load_public_key_pem(key_file.read_bytes()))
    window.nav.setCurrentRow([window.nav.item(i).text() for i in range(window.nav.count())].index("Exclusion file"))
    dialogs.set_next_answer("Replace the key")
    screen.replace_key_button.click()
    wait_idle(qtbot, screen)
    assert screen.status.text().startswith("New signing key ") and f"(was {old_id})" in screen.status.text(), \
        screen.status.text()
    assert server.audit()[-1][3:5] == ("export.signing_key_replaced", "ok")
    [(kid, pem, _at, by)] = exclusion_server.retired_public_keys(window.session)
    assert (kid, by) == (old_id, server.mo)
    again = reader.read_export(out, signing.load_public_key_pem(pem.encode("ascii")), practice_ods="F84003",
                               state_path=tmp_path / "consult-state-2.json")
    assert len(again.rows) == 2
    _new_pem, new_id = exclusion.public_key_pem(window.session)
    assert new_id != old_id and new_id in screen.status.text()
    window.lock()


def test_a_receptionist_cannot_export_on_the_server(qtbot, settings, pg_db, server, tmp_path):  # noqa: F811
    rita = server.add_user("rita", "rita-password-1", roles.RECEPTIONIST)
    window = _signed_in(qtbot, settings, pg_db, rita, "rita-password-1")
    titles = [window.nav.item(i).text() for i in range(window.nav.count())]
    assert "Exclusion file" not in titles
    window.lock()
    session = server_session.sign_in(accounts.address(pg_db), rita, "rita-password-1")
    try:
        before = server.audit()
        with pytest.raises(roles.PermissionDenied, match="A receptionist may not write the exclusion file."):
            exclusion.export(session, tmp_path / "out")
        assert not (tmp_path / "out").exists()  # nothing written
        assert [r[3] for r in server.audit()[len(before):]] == ["denied.export"]  # the refusal, audited
    finally:
        session.lock()
