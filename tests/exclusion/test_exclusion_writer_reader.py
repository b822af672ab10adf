"""Write then read: round trips, and every reason the reader fails closed."""

from __future__ import annotations

import json
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gp_optout_desktop.domain.exclusion_rules import EXCLUDE_ALL_EXCEPT_LISTED, EXCLUDE_LISTED
from gp_optout_desktop.exclusion import format as fmt
from gp_optout_desktop.exclusion import signing, state
from gp_optout_desktop.exclusion.errors import (
    BadSignatureError,
    CountMismatchError,
    ExclusionSetError,
    ExpiredError,
    ExportError,
    HashMismatchError,
    MalformedSetError,
    MissingFileError,
    NotYetValidError,
    RevisionRollbackError,
    StateFileError,
    UnknownFormatVersionError,
    WrongPracticeError,
)
from gp_optout_desktop.exclusion.reader import current_generation, load_public_key, read_export
from gp_optout_desktop.exclusion.writer import write_export

from excl_helpers import CHAIN, NHS, NOW, TYPE1, TYPE1_WITHDRAWN, export, make_rows, snapshot


@given(st.sets(st.sampled_from(NHS)), st.sampled_from([EXCLUDE_LISTED, EXCLUDE_ALL_EXCEPT_LISTED]))
@settings(max_examples=25, deadline=None)
def test_round_trip_any_set(key, numbers, mode):
    code = TYPE1 if mode == EXCLUDE_LISTED else TYPE1_WITHDRAWN
    rows = make_rows(sorted(numbers), code)
    with tempfile.TemporaryDirectory() as d:
        result = export(Path(d), key, rows, mode=mode)
        got = read_export(Path(d), key.public_key(), practice_ods="F84003", state_path=Path(d) / "state.json", now=NOW)
    assert list(got.rows) == rows and result.row_count == len(rows) == got.manifest.row_count
    assert got.manifest == result.manifest
    for n in NHS:
        assert got.may_extract(n) == ((n in numbers) == (mode == EXCLUDE_ALL_EXCEPT_LISTED))


def test_result_paths(tmp_path, key):
    result = export(tmp_path, key, objectors_without_nhs_number=2)
    assert set(result.paths) == {"exclusions.csv", "manifest.json", "manifest.sig", "CURRENT"}
    assert sorted(p.name for p in result.generation.iterdir()) == sorted(fmt.SET_FILES)
    got = read(tmp_path, key)
    assert got.manifest.objectors_without_nhs_number == 2
    assert result.list_sha256 == fmt.sha256_hex(result.paths["exclusions.csv"].read_bytes())


def test_writer_refuses_bad_rows_and_count_mismatch_writing_nothing(tmp_path, key):
    export(tmp_path, key)
    before = snapshot(tmp_path)
    with pytest.raises(ExportError, match="Nothing was written: .*same patient"):
        export(tmp_path, key, make_rows([NHS[0], NHS[0]]), revision=6)
    with pytest.raises(ExportError, match="register expects 11"):
        export(tmp_path, key, revision=6, expected_count=11)
    with pytest.raises(ExportError, match="ODS"):
        write_export(tmp_path, [], private_key=key, practice_ods="X1", register_revision=6, mode=EXCLUDE_LISTED, audit_chain_head=CHAIN)
    assert snapshot(tmp_path) == before


def test_keeps_current_and_previous_generation_only(tmp_path, key):
    gens = []
    for rev in (1, 2, 3, 4):
        gens.append(export(tmp_path, key, revision=rev).generation.name)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["CURRENT", gens[-2], gens[-1]])
    assert current_generation(tmp_path).name == gens[-1]


# ---- fail closed -----------------------------------------------------------------------------

@pytest.fixture
def exported(tmp_path, key):
    result = export(tmp_path, key)
    return tmp_path, result


def read(directory, key, **kw):
    kw.setdefault("now", NOW)
    kw.setdefault("practice_ods", "F84003")
    kw.setdefault("state_path", Path(tempfile.mkdtemp()) / "state.json")  # a fresh consumer unless a test gives one
    return read_export(directory, key.public_key(), **kw)


def test_missing_folder_pointer_and_files(tmp_path, key, exported):
    directory, result = exported
    with pytest.raises(MissingFileError, match="does not exist"):
        read(tmp_path / "nope", key)
    for name in ("exclusions.csv", "manifest.json", "manifest.sig"):
        data = result.paths[name].read_bytes()
        result.paths[name].unlink()
        with pytest.raises(MissingFileError, match=f"is missing.*|{name}"):
            read(directory, key)
        result.paths[name].write_bytes(data)
    read(directory, key)
    (directory / "CURRENT").unlink()
    with pytest.raises(MissingFileError, match="no CURRENT file"):
        read(directory, key)


@pytest.mark.parametrize("pointer", [b"", b"../../etc\n", b"g000000000005-20250301T093000Z-abcdef01", b"\xff\n"])
def test_bad_pointer(exported, key, pointer):
    directory, _ = exported
    (directory / "CURRENT").write_bytes(pointer)
    with pytest.raises(MalformedSetError, match="does not name an export generation"):
        read(directory, key)


def test_pointer_to_missing_generation(exported, key):
    directory, _ = exported
    (directory / "CURRENT").write_bytes(b"g000000000005-20250301T093000Z-abcdef01\n")
    with pytest.raises(MissingFileError, match="generation folder .* is missing"):
        read(directory, key)


def test_every_single_byte_flip_in_the_manifest_is_refused(exported, key):
    directory, result = exported
    path = result.paths["manifest.json"]
    original = path.read_bytes()
    for i in range(len(original)):
        flipped = bytearray(original)
        flipped[i] ^= 0x01
        path.write_bytes(bytes(flipped))
        with pytest.raises(ExclusionSetError):
            read(directory, key)
    path.write_bytes(original)
    read(directory, key)


def test_every_single_byte_flip_in_the_signature_is_refused(exported, key):
    directory, result = exported
    path = result.paths["manifest.sig"]
    original = path.read_bytes()
    for i in range(len(original)):
        flipped = bytearray(original)
        flipped[i] ^= 0x80
        path.write_bytes(bytes(flipped))
        with pytest.raises(BadSignatureError, match="does not verify"):
            read(directory, key)


@pytest.mark.parametrize("name", ["exclusions.csv"])
def test_byte_flips_in_the_lists_are_refused(exported, key, name):
    directory, result = exported
    path = result.paths[name]
    original = path.read_bytes()
    for i in range(0, len(original), 7):
        flipped = bytearray(original)
        flipped[i] ^= 0x01
        path.write_bytes(bytes(flipped))
        with pytest.raises(HashMismatchError, match="SHA-256 does not match"):
            read(directory, key)


def test_truncation_row_removed_is_refused(exported, key):
    directory, result = exported
    path = result.paths["exclusions.csv"]
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join(lines[:3] + lines[4:]))  # one patient dropped
    with pytest.raises(HashMismatchError, match="altered or truncated"):
        read(directory, key)


def _resign(directory, result, key, change):
    """Forge a manifest that is correctly signed by the register key but inconsistent."""
    obj = json.loads(result.paths["manifest.json"].read_bytes())
    change(obj)
    data = (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()
    result.paths["manifest.json"].write_bytes(data)
    result.paths["manifest.sig"].write_bytes(signing.sign(key, data))


def test_signed_manifest_with_wrong_count_is_refused(exported, key):
    directory, result = exported
    _resign(directory, result, key, lambda o: o.update(row_count=11))
    with pytest.raises(CountMismatchError, match="10 rows but the signed manifest says 11"):
        read(directory, key)


def test_unknown_format_version_is_named(exported, key):
    directory, result = exported
    _resign(directory, result, key, lambda o: o.update(format_version=3))
    with pytest.raises(UnknownFormatVersionError, match="format version 3; this reader understands version 2"):
        read(directory, key)


def test_format_version_1_is_refused_with_the_reason(exported, key):
    """Version 1 listed Type 2-only patients as blocked and was read leniently: refused, not misread."""
    directory, result = exported
    _resign(directory, result, key, lambda o: o.update(format_version=1))
    with pytest.raises(UnknownFormatVersionError, match="format version 1, which this reader refuses.*Type 2.*export"):
        read(directory, key)


def test_wrong_key_names_both_key_ids(exported, key, other_key):
    directory, _ = exported
    with pytest.raises(BadSignatureError, match=f"names signing key {signing.key_id(key)}.*{signing.key_id(other_key)}"):
        read(directory, other_key)


def test_wrong_practice(exported, key):
    directory, _ = exported
    read(directory, key, practice_ods=" f84003 ")
    with pytest.raises(WrongPracticeError, match="for practice F84003, not B82001"):
        read(directory, key, practice_ods="B82001")


def test_expired_and_future_sets(exported, key):
    directory, result = exported
    read(directory, key, now=result.manifest.valid_until - timedelta(seconds=1))
    with pytest.raises(ExpiredError, match="expired at 2025-03-08T09:30:00Z"):
        read(directory, key, now=result.manifest.valid_until)
    with pytest.raises(NotYetValidError, match="check the clocks"):
        read(directory, key, now=NOW - timedelta(hours=1))


def test_revision_rollback_is_refused(tmp_path, key):
    state_file = tmp_path / "seen.json"
    old, new = tmp_path / "old", tmp_path / "new"
    export(old, key, revision=4)
    export(new, key, revision=5)
    state.record_seen(state_file, read(new, key, state_path=state_file).manifest)
    read(new, key, state_path=state_file)  # the same revision again is fine
    with pytest.raises(RevisionRollbackError, match="revision 4, older than revision 5"):
        read(old, key, state_path=state_file)
    assert state.highest_seen(state_file, "F84003") == 5
    state.record_seen(state_file, read(old, key, state_path=tmp_path / "other.json").manifest)  # never lowers the mark
    assert state.highest_seen(state_file, "F84003") == 5


def test_unreadable_state_file_fails_closed(exported, key):
    directory, _ = exported
    bad = directory.parent / "seen.json"
    bad.write_text("{not json")
    with pytest.raises(StateFileError, match="delete it deliberately"):
        read(directory, key, state_path=bad)


def test_load_public_key_file(tmp_path, key):
    with pytest.raises(MissingFileError, match="public key file"):
        load_public_key(tmp_path / "none.pem")
    (tmp_path / "k.pem").write_bytes(signing.public_key_pem(key))
    assert signing.key_id(load_public_key(tmp_path / "k.pem")) == signing.key_id(key)


def test_unreadable_file_fails_closed(exported, key, monkeypatch):
    directory, result = exported
    import os

    real = os.open

    def denied(path, flags, *a, **kw):
        if str(path).endswith("exclusions.csv"):
            raise PermissionError(13, "Permission denied")
        return real(path, flags, *a, **kw)

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(ExclusionSetError, match="list file .* cannot be read \\(Permission denied\\)"):
        read(directory, key)


def test_reader_follows_the_pointer_again_if_its_generation_was_pruned(tmp_path, key, monkeypatch):
    """A writer may commit and prune between our reading CURRENT and opening the generation."""
    from gp_optout_desktop.exclusion import reader as reader_mod

    export(tmp_path, key, revision=1)
    stale = current_generation(tmp_path)
    export(tmp_path, key, revision=2)
    export(tmp_path, key, revision=3)  # revision 1's generation is pruned now
    assert not stale.exists()
    calls = []
    real = reader_mod.current_generation

    def first_stale(directory):
        calls.append(1)
        return stale if len(calls) == 1 else real(directory)

    monkeypatch.setattr(reader_mod, "current_generation", first_stale)
    assert read(tmp_path, key).manifest.register_revision == 3 and len(calls) == 2


def test_cleanup_problems_after_commit_are_reported_not_raised(tmp_path, key, monkeypatch):
    import shutil

    export(tmp_path, key, revision=1)
    export(tmp_path, key, revision=2)
    monkeypatch.setattr(shutil, "rmtree", lambda p: (_ for _ in ()).throw(PermissionError(13, "Permission denied")))
    result = export(tmp_path, key, revision=3)
    assert result.cleanup_problems and "Permission denied" in result.cleanup_problems[0]
    assert read(tmp_path, key).manifest.register_revision == 3


def test_export_into_a_linked_folder_is_refused_up_front(tmp_path, key):
    """Consumers refuse a linked folder (spec MUST 2), so the writer says so before writing anything."""
    import os

    real = tmp_path / "real"
    real.mkdir()
    os.symlink(real, tmp_path / "link", target_is_directory=True)
    with pytest.raises(ExportError, match="symbolic link"):
        export(tmp_path / "link", key)
    assert list(real.iterdir()) == []
