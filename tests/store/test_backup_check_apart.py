"""A backup's checks in a process of their own (child_task, as the desktop app runs them; ADR
0014 addendum, hazard H-80) refuse exactly what they refuse in the app: every damaged backup
of test_backup_verify_content, and a copy spoiled before its check while writing. A check
whose process is killed fails in words, and no backup is left or recorded as verified."""

from __future__ import annotations

import threading
import time

import pytest

from gp_optout_desktop import child_task
from gp_optout_desktop.services import backup
from gp_optout_desktop.store import backup as store_backup
from gp_optout_desktop.store.errors import RegisterCorrupt

from test_backup_verify_content import CASES, _rewrite, _sql, made  # noqa: F401 - made is a fixture


@pytest.fixture
def apart():
    child_task.enable()
    yield
    child_task.shutdown()
    child_task.enable(False)


@pytest.mark.parametrize("case, spoil_db, spoil_manifest, error, words", CASES, ids=[c[0] for c in CASES])
def test_a_damaged_backup_is_refused_by_the_check_apart(made, apart, case, spoil_db, spoil_manifest, error,  # noqa: F811
                                                        words):
    bad = made["work"] / f"{case}.gpob"
    _rewrite(made["file"], bad, made["key"], made["work"], spoil_db=spoil_db, spoil_manifest=spoil_manifest)
    assert store_backup.verify_file(made["file"], made["key"])["counts"]["patients"] == 2  # the original is fine
    with pytest.raises(error, match=words):
        store_backup.verify_file(bad, made["key"])


def test_a_copy_spoiled_before_its_check_apart_is_not_reported_verified(manager, add_patient, tmp_path, monkeypatch,
                                                                        apart):
    add_patient(manager, surname="Alpha")
    add_patient(manager, surname="Beta")
    real_export = store_backup._export_copy

    def export_then_spoil(conn, data_key, target):
        real_export(conn, data_key, target)
        _sql("UPDATE patients SET surname = 'Gamma' WHERE surname = 'Beta'")(target, data_key)

    monkeypatch.setattr(store_backup, "_export_copy", export_then_spoil)
    with pytest.raises(RegisterCorrupt, match="audit trail does not verify: the patients table was changed"):
        backup.backup(manager, tmp_path / "b.gpob")
    assert not (tmp_path / "b.gpob").exists()
    assert backup.last_backup(manager) is None
    monkeypatch.setattr(store_backup, "_export_copy", real_export)
    backup.backup(manager, tmp_path / "good.gpob")  # and a sound copy passes the same check apart
    assert backup.last_backup(manager)["verified"] is True


def test_a_check_whose_process_is_killed_fails_in_words_and_leaves_no_backup(manager, add_patient, tmp_path, apart):
    add_patient(manager, surname="Alpha")
    out = tmp_path / "backups"
    out.mkdir()
    outcome = {}

    def run():
        try:
            outcome["result"] = backup.backup(manager, out / "b.gpob")
        except Exception as exc:  # noqa: BLE001 - why: the test reads what the task raised
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 20
    while not child_task._live and time.monotonic() < deadline:  # noqa: SLF001 - the check's process
        time.sleep(0.005)
    (child,) = list(child_task._live)  # noqa: SLF001
    child.kill()
    thread.join(30)
    error = outcome.get("error")
    assert isinstance(error, child_task.ChildTaskFailed), outcome
    assert str(error).startswith("The backup copy's check stopped before it finished")
    assert list(out.iterdir()) == []  # no backup, and no copy of the register left behind either
    assert backup.last_backup(manager) is None
