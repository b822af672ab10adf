"""A backup's checks in a process of their own (child_task, as the desktop app runs them; ADR
0014 addendum, hazard H-80) refuse exactly what they refuse in the app: every damaged backup
of test_backup_verify_content, and a copy spoiled before its check while writing. A check
whose process is killed fails in words, and no backup is left or recorded as verified."""

from __future__ import annotations


import pytest

from gp_optout_desktop import child_task
from gp_optout_desktop.services import backup
from gp_optout_desktop.store import backup as store_backup
from gp_optout_desktop.store.errors import RegisterCorrupt

from test_backup_verify_content import CASES, _rewrite, _sql, made  # noqa: F401 - made is a fixture


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
    outcome = apart.killed_during(lambda: backup.backup(manager, out / "b.gpob"))
    error = outcome.get("error")
    assert isinstance(error, child_task.ChildTaskFailed), outcome
    assert str(error).startswith("The backup copy's check stopped before it finished")
    assert list(out.iterdir()) == []  # no backup, and no copy of the register left behind either
    assert backup.last_backup(manager) is None
