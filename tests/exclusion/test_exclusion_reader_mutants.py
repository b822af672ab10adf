"""Reading a set (exclusion/reader.py) as the extraction operator meets a refusal: each
reason in full words, naming the file or folder (never a patient), so they know whether to
export again, fix a clock, or call the practice. Any doubt: extract nobody."""
from __future__ import annotations

import json
import os
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest

from excl_helpers import NOW, export
from gp_optout_desktop.exclusion import signing
from gp_optout_desktop.exclusion.errors import (
    BadSignatureError, ConsumerSetupError, CountMismatchError, ExpiredError, HashMismatchError, MalformedSetError,
    MissingFileError, NotYetValidError, SymlinkError, UnreadableFileError, WrongPracticeError,
)
from gp_optout_desktop.exclusion.reader import load_public_key, read_export, read_regular


@pytest.fixture
def exported(tmp_path, key):
    directory = tmp_path / "exclusions"
    return directory, export(directory, key)


def read(directory, key, **kw):
    kw.setdefault("now", NOW)
    kw.setdefault("practice_ods", "F84003")
    kw.setdefault("state_path", Path(tempfile.mkdtemp()) / "state.json")
    return read_export(directory, key.public_key(), **kw)


def refused(error, message, directory, key, **kw):
    with pytest.raises(error) as err:
        read(directory, key, **kw)
    assert type(err.value) is error and str(err.value) == message


@pytest.mark.parametrize("practice, message", [
    (None, "The consumer must say which practice it is (the practice's ODS code): a set for another practice would "
           "otherwise be accepted."),
    ("  ", "The consumer must say which practice it is (the practice's ODS code): a set for another practice would "
           "otherwise be accepted."),
    ("F8400", "The practice given to the consumer is not an ODS code (one letter and five digits)."),
])
def test_a_consumer_that_does_not_say_which_practice_it_is_is_refused(exported, key, practice, message):
    refused(ConsumerSetupError, message, exported[0], key, practice_ods=practice)


@pytest.mark.parametrize("state_path", [None, "", "  "])
def test_a_consumer_without_a_state_file_is_refused(exported, key, state_path):
    refused(ConsumerSetupError, "The consumer must name its state file (the highest revision it has used): an older "
                                "set put back would otherwise be accepted.", exported[0], key, state_path=state_path)


def test_the_folder_and_its_pointer(tmp_path, exported, key):
    directory, _ = exported
    refused(MissingFileError, f"The exclusion folder {tmp_path / 'none'} does not exist.", tmp_path / "none", key)
    (tmp_path / "plain-file").write_text("x")
    refused(MalformedSetError, f"The exclusion folder ({tmp_path / 'plain-file'}) is not a folder.",
            tmp_path / "plain-file", key)
    (directory / "CURRENT").write_bytes(b"\xff\n")
    refused(MalformedSetError, f"The CURRENT file in {directory} does not name an export generation.", directory, key)
    (directory / "CURRENT").write_bytes(b"x" * 65)
    refused(MalformedSetError, "The CURRENT file (CURRENT) is 65 bytes, more than the 64 allowed.", directory, key)
    (directory / "CURRENT").unlink()
    (directory / "CURRENT").mkdir()
    refused(MalformedSetError, f"The CURRENT file (CURRENT) in {directory} is not a regular file.", directory, key)
    (directory / "CURRENT").rmdir()
    refused(MissingFileError, f"The exclusion folder {directory} has no CURRENT file: no exclusion set has been "
                              "exported there.", directory, key)


def test_the_generation_folder_holds_exactly_the_sets_files(exported, key):
    directory, result = exported
    gen = result.generation
    (gen / "notes.txt").write_text("x")
    (gen / "a.tmp").write_text("x")
    refused(MalformedSetError, f"The generation folder {gen.name} holds file(s) the format does not define: a.tmp, "
                               "notes.txt.", directory, key)
    (gen / "notes.txt").unlink()
    (gen / "a.tmp").unlink()
    (gen / "manifest.sig").unlink()
    (gen / "exclusions.csv").unlink()
    refused(MissingFileError, f"The exclusions.csv file is missing from {gen}.", directory, key)


def test_a_manifest_or_signature_too_large_is_refused_unread(exported, key):
    directory, result = exported
    sig = result.paths["manifest.sig"]
    sig.write_bytes(b"\0" * 1025)
    refused(MalformedSetError, "The manifest signature (manifest.sig) is 1025 bytes, more than the 1024 allowed.",
            directory, key)


def test_a_signature_from_another_key_names_both_keys(exported, key, other_key):
    directory, _ = exported
    refused(BadSignatureError, "The manifest's signature does not verify with this public key: the set was altered or "
                               f"signed by another register. The manifest names signing key {signing.key_id(key)}; the "
                               f"public key given is {signing.key_id(other_key)}.", directory, other_key)


def test_a_bad_signature_from_the_right_key_does_not_name_keys(exported, key):
    directory, result = exported
    sig = bytearray(result.paths["manifest.sig"].read_bytes())
    sig[0] ^= 1
    result.paths["manifest.sig"].write_bytes(bytes(sig))
    refused(BadSignatureError, "The manifest's signature does not verify with this public key: the set was altered or "
                               "signed by another register.", directory, key)


def _resign(result, key, **changes):
    path = result.paths["manifest.json"]
    obj = json.loads(path.read_bytes())
    obj.update(changes)
    data = (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=True) + "\n").encode("ascii")
    path.write_bytes(data)
    result.paths["manifest.sig"].write_bytes(signing.sign(key, data))


def test_a_manifest_naming_another_key_but_signed_with_this_one(exported, key):
    directory, result = exported
    _resign(result, key, signing_key_id="0123456789abcdef")
    refused(BadSignatureError, "The manifest's signing_key_id does not name the public key it verifies with.",
            directory, key)


def test_a_signature_over_a_manifest_without_a_key_id_is_plainly_bad(exported, key, other_key):
    directory, result = exported
    path = result.paths["manifest.json"]
    obj = json.loads(path.read_bytes())
    obj["signing_key_id"] = 7   # not text: no key named to compare
    path.write_bytes((json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())
    refused(BadSignatureError, "The manifest's signature does not verify with this public key: the set was altered or "
                               "signed by another register.", directory, other_key)


def test_a_generation_renamed_to_another_revision(exported, key):
    directory, result = exported
    other = result.generation.with_name(result.generation.name.replace("g000000000005", "g000000000009"))
    os.rename(result.generation, other)
    (directory / "CURRENT").write_text(other.name + "\n")
    refused(MalformedSetError, f"The generation folder's name {other.name} does not carry the signed manifest's "
                               "revision and time: the set was moved or renamed.", directory, key)


def test_dates_and_practice(exported, key):
    directory, result = exported
    refused(WrongPracticeError, "The exclusion set is for practice F84003, not B82001.", directory, key,
            practice_ods="B82001")
    refused(ExpiredError, "The exclusion set expired at 2025-03-08T09:30:00Z (generated 2025-03-01T09:30:00Z): export "
                          "a new one.", directory, key, now=result.manifest.valid_until)
    refused(NotYetValidError, "The exclusion set says it was generated at 2025-03-01T09:30:00Z, later than now "
                              "(2025-03-01T09:19:59Z): check the clocks.", directory, key,
            now=NOW - timedelta(minutes=10, seconds=1))
    read(directory, key, now=NOW - timedelta(minutes=10))          # ten minutes of clock skew are allowed
    read(directory, key, now=result.manifest.valid_until - timedelta(seconds=1))


def test_a_set_older_than_the_formats_maximum_is_refused_even_if_it_claims_longer(tmp_path, key):
    directory = tmp_path / "exclusions"
    result = export(directory, key, valid_for=timedelta(days=31))
    read(directory, key, now=NOW + timedelta(days=31) - timedelta(seconds=1))
    refused(ExpiredError, "The exclusion set expired at 2025-04-01T09:30:00Z (generated 2025-03-01T09:30:00Z): export "
                          "a new one.", directory, key, now=NOW + timedelta(days=31))
    assert result.manifest.valid_until == NOW + timedelta(days=31)


def test_the_list_must_match_the_signed_hash_and_count(exported, key):
    directory, result = exported
    listed = result.paths["exclusions.csv"]
    good = listed.read_bytes()
    listed.write_bytes(good[:-1])
    refused(HashMismatchError, "The list file's SHA-256 does not match the signed manifest: the list was altered or "
                               "truncated.", directory, key)
    listed.write_bytes(good)
    _resign(result, key, row_count=9)
    refused(CountMismatchError, "The list has 10 rows but the signed manifest says 9.", directory, key)


def test_a_missing_public_key_file_is_named(tmp_path):
    with pytest.raises(MissingFileError) as err:
        load_public_key(tmp_path / "exclusion.pub")
    assert str(err.value) == f"The public key file {tmp_path / 'exclusion.pub'} does not exist."


def test_a_file_that_cannot_be_read_says_why(tmp_path, monkeypatch):
    path = tmp_path / "manifest.json"
    path.write_text("{}")
    real_read = os.read

    def failing(fd, n):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "read", failing)
    with pytest.raises(UnreadableFileError) as err:
        read_regular(path, "manifest")
    assert str(err.value) == f"The manifest (manifest.json) in {tmp_path} cannot be read (Input/output error)."
    monkeypatch.setattr(os, "read", real_read)
    assert read_regular(path, "manifest", limit=2) == b"{}"


def test_what_may_be_extracted_in_each_mode(tmp_path, key):
    from excl_helpers import NHS, make_rows

    listed = read(export(tmp_path / "a", key, make_rows(NHS[:2])).directory, key)
    assert not listed.may_extract(NHS[0]) and listed.may_extract(NHS[5])
    only = read(export(tmp_path / "b", key, make_rows(NHS[:2], code="827261000000102"),
                       mode="exclude-all-except-listed").directory, key)
    assert only.may_extract(NHS[0]) and not only.may_extract(NHS[5])


# ---- issue 16, the full run of 2026-12-02 ---------------------------------------------------

def test_a_manifest_too_large_is_refused_unread(exported, key):
    directory, result = exported
    result.paths["manifest.json"].write_bytes(b" " * (64 * 1024 + 1))
    refused(MalformedSetError, "The manifest (manifest.json) is 65537 bytes, more than the 65536 allowed.",
            directory, key)


def test_a_linked_exclusion_folder_or_generation_folder_is_refused_by_its_path(tmp_path, exported, key):
    directory, result = exported
    gen = result.generation
    real = tmp_path / "kept-elsewhere"
    gen.rename(real)
    gen.symlink_to(real, target_is_directory=True)  # the pointer still names it; it leads elsewhere
    refused(SymlinkError, f"The generation folder ({gen}) is a symbolic link; an exclusion set must not contain links.",
            directory, key)
    linked = tmp_path / "linked-exclusions"
    linked.symlink_to(directory, target_is_directory=True)
    refused(SymlinkError, f"The exclusion folder ({linked}) is a symbolic link; an exclusion set must not contain "
            "links.", linked, key)


def test_a_generation_folder_that_cannot_be_listed_is_named_with_the_reason(exported, key, monkeypatch):
    directory, result = exported
    real_listdir = os.listdir

    def denied(path):
        if Path(path) == result.generation:
            raise PermissionError(13, "Permission denied")
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", denied)
    refused(UnreadableFileError, f"The generation folder {result.generation} cannot be listed (Permission denied).",
            directory, key)


def test_a_file_of_the_set_that_cannot_even_be_looked_at_says_why(exported, key, monkeypatch):
    # A disk or network-share error on the manifest itself: named with the reason, nothing extracted.
    directory, result = exported
    manifest = result.paths["manifest.json"]
    real_lstat = os.lstat

    def failing(path, *args, **kw):
        if Path(path) == manifest:
            raise OSError(5, "Input/output error")
        return real_lstat(path, *args, **kw)

    monkeypatch.setattr(os, "lstat", failing)
    refused(UnreadableFileError, f"The manifest (manifest.json) in {result.generation} cannot be read (Input/output "
            "error).", directory, key)


def test_a_file_of_the_set_that_is_a_link_is_refused_by_its_path(tmp_path, exported, key):
    directory, result = exported
    listed = result.paths["exclusions.csv"]
    copy = tmp_path / "elsewhere.csv"
    copy.write_bytes(listed.read_bytes())
    listed.unlink()
    listed.symlink_to(copy)  # the same bytes, but from outside the set
    refused(SymlinkError, f"The list file ({listed}) is a symbolic link; an exclusion set must not contain links.",
            directory, key)


def _swapped_after_the_check(monkeypatch, target: Path, swap) -> None:
    """``swap(target)`` runs just after the reader has looked at ``target`` and before it opens
    it: what another program changing the folder at that moment would do."""
    real_lstat = os.lstat

    def lstat_then_swap(path, *args, **kw):
        st = real_lstat(path, *args, **kw)
        if Path(path) == target:
            monkeypatch.setattr(os, "lstat", real_lstat)
            swap(target)
        return st

    monkeypatch.setattr(os, "lstat", lstat_then_swap)


def test_a_file_that_becomes_a_link_after_it_was_checked_is_still_refused_as_a_link(tmp_path, exported, key,
                                                                                      monkeypatch):
    directory, result = exported
    manifest = result.paths["manifest.json"]
    copy = tmp_path / "elsewhere.json"
    copy.write_bytes(manifest.read_bytes())

    def to_link(path):
        path.unlink()
        path.symlink_to(copy)

    _swapped_after_the_check(monkeypatch, manifest, to_link)
    refused(SymlinkError, f"The manifest ({manifest}) is a symbolic link; an exclusion set must not contain links.",
            directory, key)


def test_a_file_replaced_after_it_was_checked_is_refused_and_not_read(exported, key, monkeypatch):
    directory, result = exported
    manifest = result.paths["manifest.json"]

    def replace(path):
        new = path.with_name("replacement")
        new.write_bytes(path.read_bytes())  # the same bytes in another file: still not the file checked
        os.replace(new, path)

    _swapped_after_the_check(monkeypatch, manifest, replace)
    refused(MalformedSetError, "The manifest (manifest.json) was replaced while it was being read: try again.",
            directory, key)


def test_a_list_larger_than_one_read_is_read_whole(tmp_path, key):
    # A large practice's list is over a megabyte, more than the reader takes in one read.
    from excl_helpers import make_rows
    from gp_optout_desktop.domain.nhs_number import synthetic_range

    numbers = synthetic_range(30_000)
    directory = tmp_path / "exclusions"
    result = export(directory, key, make_rows(numbers))
    assert result.paths["exclusions.csv"].stat().st_size > 1 << 20
    exset = read(directory, key)
    assert len(exset.rows) == 30_000 and exset.nhs_numbers == frozenset(numbers)
