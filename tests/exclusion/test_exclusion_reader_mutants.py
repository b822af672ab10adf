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
    MissingFileError, NotYetValidError, UnreadableFileError, WrongPracticeError,
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
