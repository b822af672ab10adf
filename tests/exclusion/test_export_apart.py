"""The exclusion file's rows read and the set written in a process of its own in the desktop app
(child_task; ADR 0014 addendum 3, hazard H-80), through a real encrypted register: the child
writes the set the app writes; the writer's refusal comes back whole and is audited; a child
killed halfway is said in words, audited, and the register records no export."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import date, datetime, timezone

import pytest

from gp_optout_desktop import child_task
from gp_optout_desktop.exclusion import signing
from gp_optout_desktop.exclusion.errors import ExportError
from gp_optout_desktop.exclusion.reader import read_export
from excl_helpers import fresh_state
from gp_optout_desktop.services import exclusion, objections
from gp_optout_desktop.store import exclusion_repo

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def pm(manager, add_patient):
    manager.clock = lambda: NOW
    for name in ("A", "B", "C", "D"):
        pid = add_patient(manager, forenames=name)
        if name != "D":
            objections.record(manager, pid, effective=date(2014, 2, 1))
    return manager


def _read(pm, folder):
    pem, _ = exclusion.public_key_pem(pm)
    return read_export(folder, signing.load_public_key_pem(pem), practice_ods="F84003", state_path=fresh_state(), now=NOW)


def _logged(pm):
    with pm.register.reading() as conn:
        return conn.execute("SELECT detail, outcome FROM audit WHERE action = 'exclusion.export' ORDER BY seq").fetchall()


def _last_export(pm):
    with pm.register.reading() as conn:
        return exclusion_repo.last_export(conn)


def test_the_child_writes_the_set_the_app_writes(pm, tmp_path, apart, monkeypatch):
    ran = []
    real_run = child_task.run
    monkeypatch.setattr(child_task, "run", lambda fn, *a, **k: ran.append(fn.__name__) or real_run(fn, *a, **k))
    apart_change = exclusion.export(pm, tmp_path / "apart")
    assert ran == ["_write_apart"] and child_task.enabled()  # read and written in a child process
    child_task.enable(False)
    here_change = exclusion.export(pm, tmp_path / "here")  # the command line's way: in this process
    apart_set, here_set = _read(pm, tmp_path / "apart"), _read(pm, tmp_path / "here")
    assert apart_set.rows == here_set.rows and len(apart_set.rows) == 3
    # The same rows, revision, mode, time and key; the audit head is each export's own (the first's row in between).
    assert replace(apart_set.manifest, audit_chain_head="") == replace(here_set.manifest, audit_chain_head="")
    assert int(here_set.manifest.audit_chain_head.split(":")[0]) == int(apart_set.manifest.audit_chain_head.split(":")[0]) + 1
    assert apart_change.data["record"]["sha256"] == here_change.data["record"]["sha256"] == apart_set.manifest.list_sha256
    sha = apart_set.manifest.list_sha256
    assert _logged(pm) == [(f"rows=3 sha256={sha} revision={pm.revision()} mode=exclude-listed", "ok")] * 2


@pytest.mark.skipif(os.name == "nt", reason="symbolic links need a privilege on Windows")
def test_the_writers_refusal_in_the_child_comes_back_whole_and_is_audited(pm, tmp_path, apart):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    with pytest.raises(ExportError, match="is a symbolic link, which every consumer refuses") as caught:
        exclusion.export(pm, tmp_path / "link")
    assert _logged(pm) == [(str(caught.value)[:300], "failed")]
    assert _last_export(pm) is None and list(real.iterdir()) == []


def test_a_killed_child_is_said_in_words_audited_and_not_recorded(pm, tmp_path, apart):
    revision = pm.revision()
    outcome = apart.killed_during(lambda: exclusion.export(pm, tmp_path / "out"))
    error = outcome.get("error")
    assert isinstance(error, ExportError), outcome
    assert str(error).startswith("The export's process ended or failed before it finished.")
    assert "the register has not recorded it: export again" in str(error)
    assert _logged(pm) == [(str(error), "failed")]
    assert _last_export(pm) is None and pm.revision() == revision
    child_task.enable(False)
    exclusion.export(pm, tmp_path / "out")  # exporting again into the same folder works
    assert _read(pm, tmp_path / "out").manifest.row_count == 3


def test_the_collector_is_paused_for_the_rows_and_on_again_after_a_set_or_a_refusal(pm, tmp_path, monkeypatch):
    """In-process (the command line, no child): automatic collection off while the rows are built,
    checked and written (issue 13), and on again afterwards whatever happened."""
    import gc

    seen = []
    real = exclusion._write

    def watched(*args):
        seen.append(gc.isenabled())
        return real(*args)

    monkeypatch.setattr(exclusion, "_write", watched)
    assert gc.isenabled()
    exclusion.export(pm, tmp_path / "out")
    assert seen == [False] and gc.isenabled()
    (tmp_path / "link").symlink_to(tmp_path / "out", target_is_directory=True)
    with pytest.raises(ExportError, match="symbolic link"):
        exclusion.export(pm, tmp_path / "link")
    assert seen == [False, False] and gc.isenabled()
    assert len(_read(pm, tmp_path / "out").rows) == 3
