"""Writing a set (exclusion/writer.py) as the practice manager exports one: each refusal in
full words with nothing written, a newer set never replaced by an older register, a failed
write naming the file, and what is kept and tidied after the commit."""
from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest

from excl_helpers import CHAIN, NHS, NOW, export, make_rows, snapshot
from gp_optout_desktop.exclusion import writer as writer_mod
from gp_optout_desktop.exclusion.errors import ExportError
from gp_optout_desktop.exclusion.format import MANIFEST_FILE
from gp_optout_desktop.exclusion.writer import write_export


def refused(message, directory, key, *args, **kw):
    before = snapshot(directory) if directory.exists() else None
    with pytest.raises(ExportError) as err:
        export(directory, key, *args, **kw)
    assert str(err.value) == message
    if before is not None:
        assert snapshot(directory) == before


@pytest.mark.parametrize("kw, message", [
    (dict(mode="exclude-some"), "Unknown mode 'exclude-some'."),
    (dict(valid_for=timedelta(0)), "Nothing was written: a set is valid for more than 0 and at most 31 days "
                                   "(consumers refuse anything longer)."),
    (dict(valid_for=timedelta(days=31, seconds=1)), "Nothing was written: a set is valid for more than 0 and at most "
                                                    "31 days (consumers refuse anything longer)."),
    (dict(rows=make_rows([NHS[1], NHS[0], NHS[1]])), "Nothing was written: rows 2 and 3 of the export are the same "
                                                     "patient."),
    (dict(expected_count=11), "Nothing was written: 10 rows were computed but the register expects 11."),
    (dict(objectors_without_nhs_number=-1), "Nothing was written: The manifest's objectors_without_nhs_number is not a "
                                            "whole number of zero or more."),
])
def test_an_export_the_format_would_refuse_writes_nothing(tmp_path, key, kw, message):
    export(tmp_path, key, revision=4)
    refused(message, tmp_path, key, **kw)


def test_a_set_valid_for_exactly_31_days_is_written(tmp_path, key):
    result = export(tmp_path, key, valid_for=timedelta(days=31))
    assert result.manifest.valid_until == NOW + timedelta(days=31)
    assert export(tmp_path / "b", key, expected_count=10).row_count == 10


def test_a_newer_set_in_the_folder_is_left_as_it_is(tmp_path, key):
    export(tmp_path, key, revision=7)
    refused("This folder already holds a newer exclusion set (register revision 7; this register is at 6), so it was "
            "left as it is. Check that this is the right register and the right folder.", tmp_path, key, revision=6)
    assert export(tmp_path, key, revision=7).manifest.register_revision == 7   # the same revision again is fine


def test_an_export_folder_that_cannot_be_made_is_named(tmp_path, key):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportError) as err:
        export(tmp_path / "file" / "exclusions", key)
    assert str(err.value) == f"The export folder {tmp_path / 'file' / 'exclusions'} cannot be created (Not a directory)."


def test_an_export_folder_that_is_a_link_is_refused_up_front(tmp_path, key):
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link", target_is_directory=True)
    with pytest.raises(ExportError) as err:
        export(tmp_path / "link", key)
    assert str(err.value) == (f"Nothing was written: the export folder {tmp_path / 'link'} is a symbolic link, which "
                              "every consumer refuses. Export to the real folder it points to.")


def test_a_failed_write_names_the_file_and_leaves_the_previous_set(tmp_path, key, monkeypatch):
    export(tmp_path, key, revision=4)
    before = snapshot(tmp_path)
    real = writer_mod.write_durable

    def full_disk(path, data):
        if path.name == MANIFEST_FILE:
            raise OSError(28, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(writer_mod, "write_durable", full_disk)
    with pytest.raises(ExportError) as err:
        export(tmp_path, key, revision=5)
    assert str(err.value).startswith("The export failed and the previous exclusion set is still the current one: No "
                                     "space left on device (")
    assert str(err.value).endswith(f"{MANIFEST_FILE})")
    assert snapshot(tmp_path) == before


def test_a_set_that_re_reads_differently_before_the_commit_is_not_committed(tmp_path, key, monkeypatch):
    export(tmp_path, key, revision=4)
    before = snapshot(tmp_path)
    real = writer_mod.verify_written

    def other_count(gen, *a, **kw):
        manifest = real(gen, *a, **kw)
        return manifest.__class__(**{**manifest.__dict__, "row_count": 9})

    monkeypatch.setattr(writer_mod, "verify_written", other_count)
    with pytest.raises(ExportError) as err:
        export(tmp_path, key, revision=5)
    assert str(err.value) == ("The export failed and the previous exclusion set is still the current one: the re-read "
                              "set does not match what was written")
    assert snapshot(tmp_path) == before


def test_after_the_commit_a_replaced_pointer_or_changed_file_is_reported(tmp_path, key, monkeypatch):
    real = writer_mod.current_generation
    monkeypatch.setattr(writer_mod, "current_generation", lambda d: d / "g000000000001-20250301T093000Z-00000000")
    with pytest.raises(ExportError) as err:
        export(tmp_path, key, revision=5)
    assert str(err.value) == "Another export replaced this one while it was being written: export again."
    monkeypatch.setattr(writer_mod, "current_generation", real)


def test_the_current_and_previous_sets_are_kept_and_old_temp_folders_tidied(tmp_path, key):
    first = export(tmp_path, key, revision=1).generation.name
    stale = tmp_path / ".tmp-gen-abandoned"
    stale.mkdir()
    old = time.time() - writer_mod.STALE_TEMP_SECONDS - 5
    os.utime(stale, (old, old))
    fresh = tmp_path / ".tmp-gen-in-progress"
    fresh.mkdir()
    second = export(tmp_path, key, revision=2)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted([".tmp-gen-in-progress", "CURRENT", first, second.generation.name])
    assert second.cleanup_problems == ()
    assert second.paths["CURRENT"] == tmp_path / "CURRENT" and second.directory == tmp_path
    assert second.row_count == 10 and second.list_sha256 == second.manifest.list_sha256


def test_the_set_carries_what_the_register_said(tmp_path, key):
    result = write_export(tmp_path, make_rows(NHS[:3]), private_key=key, practice_ods="F84003", register_revision=9,
                          mode="exclude-listed", audit_chain_head=CHAIN, generated_at=NOW.replace(microsecond=999),
                          objectors_without_nhs_number=2)
    m = result.manifest
    assert (m.register_revision, m.row_count, m.objectors_without_nhs_number, m.generated_at, m.audit_chain_head) == (
        9, 3, 2, NOW, CHAIN)
    assert m.valid_until == NOW + writer_mod.DEFAULT_VALIDITY == NOW + timedelta(days=7)
    assert result.generation.name.startswith("g000000000009-20250301T093000Z-")
    assert (tmp_path / "CURRENT").read_text() == result.generation.name + "\n"
    assert (result.generation.stat().st_mode & 0o777) == 0o700


def test_a_failure_with_no_file_named_says_the_reason_alone_and_logs_a_leftover(tmp_path, key, monkeypatch, caplog):
    # A device error carries no file name: the message ends with the reason, nothing after it.
    # The half-written folder cannot be removed either: the export's own error is the one
    # reported, and the leftover is logged for the administrator.
    export(tmp_path, key, revision=4)
    before = snapshot(tmp_path)
    real = writer_mod.write_durable

    def failing_device(path, data):
        if path.name == MANIFEST_FILE:
            raise OSError(5, "Input/output error")
        real(path, data)

    def cannot_remove(path, *a, **kw):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(writer_mod, "write_durable", failing_device)
    monkeypatch.setattr(writer_mod.shutil, "rmtree", cannot_remove)
    with caplog.at_level("WARNING", logger=writer_mod.log.name):
        with pytest.raises(ExportError) as err:
            export(tmp_path, key, revision=5)
    assert str(err.value) == ("The export failed and the previous exclusion set is still the current one: "
                              "Input/output error")
    assert [r.getMessage().split(" (")[0] for r in caplog.records if r.name == writer_mod.log.name] == [
        "A partly written exclusion generation could not be removed"]
    monkeypatch.undo()
    leftovers = set(snapshot(tmp_path)) - set(before)
    assert all(".tmp-" in str(p) for p in leftovers)


def test_a_set_valid_for_a_few_hours_is_written_into_a_folder_made_with_its_parents(tmp_path, key):
    # A short validity is allowed (more than 0); a new share path is made in full.
    result = export(tmp_path / "share" / "gp" / "exclusions", key, valid_for=timedelta(hours=12))
    assert result.manifest.valid_until == NOW + timedelta(hours=12)
    assert (tmp_path / "share" / "gp" / "exclusions" / "CURRENT").is_file()


# ---- issue 16, 2026-12-02: the survivors left on 2026-12-01 -----------------------------------

def _reads_after_the_commit(monkeypatch, tmp_path, answer, names=("exclusions.csv",)):
    """Reading back a file of ``names`` in the new generation, once CURRENT names it, gives ``answer(path, real)``."""
    from pathlib import Path

    real = Path.read_bytes

    def read_bytes(path):
        committed = (tmp_path / "CURRENT").exists() and path.parent.name in (tmp_path / "CURRENT").read_text()
        if committed and path.name in names and path.parent.name.startswith("g"):
            return answer(path, real)
        return real(path)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)


def test_a_file_that_re_reads_differently_after_the_commit_is_reported(tmp_path, key, monkeypatch):
    export(tmp_path, key, revision=4)
    _reads_after_the_commit(monkeypatch, tmp_path, lambda path, real: real(path)[:-1],
                            names=("exclusions.csv", "manifest.sig"))
    with pytest.raises(ExportError) as err:
        export(tmp_path, key, revision=5)
    assert str(err.value) == ("The new exclusion set is in place but exclusions.csv, manifest.sig re-read "
                              "differently: export again.")


def test_a_file_that_cannot_be_re_read_after_the_commit_is_reported_with_the_reason(tmp_path, key, monkeypatch):
    export(tmp_path, key, revision=4)

    def failing(path, real):
        raise OSError(5, "Input/output error", str(path))

    _reads_after_the_commit(monkeypatch, tmp_path, failing)
    with pytest.raises(ExportError) as err:
        export(tmp_path, key, revision=5)
    gen = err.value.__cause__.filename
    assert str(err.value) == ("The new exclusion set is in place but could not be confirmed: Input/output error "
                              f"({gen})")
    assert gen.endswith("exclusions.csv")


def test_a_stale_temporary_file_left_by_a_crashed_export_is_removed(tmp_path, key):
    export(tmp_path, key, revision=1)
    stale = tmp_path / ".tmp-CURRENT-abandoned"   # a pointer file a crashed export never renamed
    stale.write_text("g000000000001-20250301T093000Z-00000000\n")
    old = time.time() - writer_mod.STALE_TEMP_SECONDS - 5
    os.utime(stale, (old, old))
    second = export(tmp_path, key, revision=2)
    assert not stale.exists() and second.cleanup_problems == ()


def test_a_newer_set_at_a_revision_of_twelve_digits_is_left_as_it_is(tmp_path, key):
    export(tmp_path, key, revision=100_000_000_005)
    refused("This folder already holds a newer exclusion set (register revision 100000000005; this register is at "
            "6), so it was left as it is. Check that this is the right register and the right folder.",
            tmp_path, key, revision=6)


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes and umask")
def test_an_export_works_under_a_umask_that_takes_the_owners_own_rights(tmp_path, key):
    """A desk whose umask removes the owner's write and search rights (0o277: a locked-down
    profile) still writes a set: the new generation folder is given 0o700 whatever the umask,
    so its files can be written and read back (the tests may run as root, whom no mode stops:
    hence the mode is checked too)."""
    (tmp_path / "out").mkdir()  # the export folder exists (set up with normal rights)
    old = os.umask(0o277)
    try:
        result = export(tmp_path / "out", key, revision=3)
    finally:
        os.umask(old)
    assert result.row_count == 10
    assert (result.generation.stat().st_mode & 0o777) == 0o700
