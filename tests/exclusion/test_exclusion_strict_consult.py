"""The strict consult (issue 11 finding 6): each way `consult` used to accept a set it should
not, reproduced against a real signed set on disk, now refused (fails closed).

docs/exclusion-file.md section 5 names these tests beside the rules they check."""

from __future__ import annotations

import json
import os
import shutil
import stat
from datetime import timedelta
from pathlib import Path

import pytest

from gp_optout_desktop import cli_exclusion
from gp_optout_desktop.domain.exclusion_rules import EXCLUDE_ALL_EXCEPT_LISTED
from gp_optout_desktop.exclusion import consult as consult_mod
from gp_optout_desktop.exclusion import format as fmt
from gp_optout_desktop.exclusion import signing, state
from gp_optout_desktop.exclusion.errors import (
    BadSignatureError,
    ConsumerSetupError,
    ExpiredError,
    ExportError,
    MalformedSetError,
    RevisionRollbackError,
    StateFileError,
    SymlinkError,
    WrongPracticeError,
)
from gp_optout_desktop.exclusion.reader import current_generation, read_export

from excl_helpers import NHS, NOW, export, fresh_state, make_rows

pytestmark = pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")


def read(directory, key, **kw):
    kw.setdefault("now", NOW)
    kw.setdefault("practice_ods", "F84003")
    kw.setdefault("state_path", fresh_state())
    return read_export(directory, key.public_key(), **kw)


@pytest.fixture
def two_sets(tmp_path, key):
    """The consumer's folder (10 objectors) and a signed set elsewhere (nobody listed)."""
    ours, elsewhere = tmp_path / "ours", tmp_path / "elsewhere"
    export(ours, key, revision=5)
    export(elsewhere, key, make_rows([]), revision=5)  # same revision and time: only links could swap it in
    return ours, elsewhere


def _resign(gen: Path, key, data: bytes) -> None:
    (gen / "manifest.json").write_bytes(data)
    (gen / "manifest.sig").write_bytes(signing.sign(key, data))


def _edit_manifest(gen: Path, key, change) -> None:
    obj = json.loads((gen / "manifest.json").read_bytes())
    change(obj)
    _resign(gen, key, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


# ---- symbolic links anywhere in the set --------------------------------------------------------

def test_current_as_a_symlink_is_refused(two_sets, key):
    ours, elsewhere = two_sets
    (ours / "CURRENT").unlink()
    shutil.copytree(current_generation(elsewhere), ours / current_generation(elsewhere).name)
    os.symlink(elsewhere / "CURRENT", ours / "CURRENT")
    with pytest.raises(SymlinkError, match="CURRENT file .* is a symbolic link"):
        read(ours, key)


def test_generation_folder_as_a_symlink_is_refused(two_sets, key):
    ours, elsewhere = two_sets
    gen = current_generation(ours)
    shutil.rmtree(gen)
    os.symlink(current_generation(elsewhere), gen, target_is_directory=True)
    assert len(read(elsewhere, key).rows) == 0  # the linked-to set itself is valid
    with pytest.raises(SymlinkError, match="generation folder .* is a symbolic link"):
        read(ours, key)


@pytest.mark.parametrize("name", ["manifest.json", "manifest.sig", "exclusions.csv"])
def test_a_file_inside_the_generation_as_a_symlink_is_refused(two_sets, key, name):
    ours, elsewhere = two_sets
    gen, other = current_generation(ours), current_generation(elsewhere)
    if name == "exclusions.csv":  # a link to identical bytes is still refused
        target = other.parent / "same.csv"
        target.write_bytes((gen / name).read_bytes())
    else:
        target = other / name
    (gen / name).unlink()
    os.symlink(target, gen / name)
    with pytest.raises(SymlinkError, match=f"\\({name}\\)|{name}.* is a symbolic link|is a symbolic link"):
        read(ours, key)


def test_the_exclusion_folder_as_a_symlink_is_refused(two_sets, key, tmp_path):
    _, elsewhere = two_sets
    os.symlink(elsewhere, tmp_path / "linked", target_is_directory=True)
    with pytest.raises(SymlinkError, match="exclusion folder"):
        read(tmp_path / "linked", key)


def test_a_link_swapped_in_after_the_check_is_refused(two_sets, key, monkeypatch):
    """O_NOFOLLOW and the inode comparison close the gap between checking a file and opening it."""
    from gp_optout_desktop.exclusion import reader as reader_mod

    ours, elsewhere = two_sets
    gen, other = current_generation(ours), current_generation(elsewhere)
    real_lstat = os.lstat

    def swap_after_lstat(path, *a, **kw):
        result = real_lstat(path, *a, **kw)
        if str(path).endswith("exclusions.csv") and not stat.S_ISLNK(result.st_mode):
            os.unlink(path)
            os.symlink(other / "exclusions.csv", path)
        return result

    monkeypatch.setattr(reader_mod.os, "lstat", swap_after_lstat)
    with pytest.raises((SymlinkError, MalformedSetError), match="symbolic link|replaced while"):
        read(ours, key)


def test_extra_or_irregular_entries_in_the_generation_are_refused(two_sets, key):
    ours, _ = two_sets
    gen = current_generation(ours)
    (gen / "national-check.csv").write_bytes(b"")
    with pytest.raises(MalformedSetError, match="does not define: national-check.csv"):
        read(ours, key)
    (gen / "national-check.csv").unlink()
    sig = (gen / "manifest.sig").read_bytes()
    (gen / "manifest.sig").unlink()
    (gen / "manifest.sig").mkdir()
    with pytest.raises(MalformedSetError, match="not a regular file"):
        read(ours, key)
    (gen / "manifest.sig").rmdir()
    (gen / "manifest.sig").write_bytes(sig)
    assert len(read(ours, key).rows) == 10


# ---- the manifest: duplicate keys, types and forms ----------------------------------------------

def test_duplicate_mode_key_is_refused_even_when_signed(two_sets, key):
    """json.loads keeps the last 'mode': a signed manifest could say one thing to one parser and
    another to the next. Here the second 'mode' would turn 'exclude these 10' into 'extract only these 10'."""
    ours, _ = two_sets
    gen = current_generation(ours)
    data = (gen / "manifest.json").read_bytes()
    forged = data.replace(b'  "mode": "exclude-listed",\n',
                          b'  "mode": "exclude-listed",\n  "mode": "exclude-all-except-listed",\n')
    assert forged != data and json.loads(forged)["mode"] == EXCLUDE_ALL_EXCEPT_LISTED
    _resign(gen, key, forged)
    with pytest.raises(MalformedSetError, match="the field 'mode' more than once"):
        read(ours, key)


@pytest.mark.parametrize("head", ["anything", "", "0f" * 32, "5:" + "0F" * 32, "5:" + "0f" * 33, "-1:" + "0f" * 32,
                                  "5:" + "0f" * 32 + "\n", 5, None])
def test_malformed_audit_chain_head_is_refused_even_when_signed(two_sets, key, head):
    ours, _ = two_sets
    _edit_manifest(current_generation(ours), key, lambda o: o.update(audit_chain_head=head))
    with pytest.raises(MalformedSetError, match="audit_chain_head"):
        read(ours, key)


def test_well_formed_audit_chain_heads_are_accepted(two_sets, key):
    ours, _ = two_sets
    for head in ("0:genesis", "1:" + "ab" * 32, "123456:" + "cd" * 64):
        _edit_manifest(current_generation(ours), key, lambda o: o.update(audit_chain_head=head))
        assert read(ours, key).manifest.audit_chain_head == head


@pytest.mark.parametrize("spoil, words", [
    (lambda d: d.replace(b'"row_count": 10', b'"row_count": 10.0'), "10.0; every number in it is a whole number"),
    (lambda d: d.replace(b'"objectors_without_nhs_number": 0', b'"objectors_without_nhs_number": NaN'), "NaN"),
    (lambda d: d.replace(b"\n  ", b"\n   "), "canonical form"),
    (lambda d: d.replace(b'"practice_ods": "F84003"', b'"practice_ods": "F8\\u00a04003"'), "ODS"),
    (lambda d: d.replace(b'"F84003"', "\"F84003\u00a0\"".encode()), "ASCII"),
])
def test_every_field_has_one_type_and_one_form(two_sets, key, spoil, words):
    ours, _ = two_sets
    gen = current_generation(ours)
    data = (gen / "manifest.json").read_bytes()
    _resign(gen, key, spoil(data))
    with pytest.raises(MalformedSetError, match=words):
        read(ours, key)


def test_signing_key_id_must_name_the_verifying_key(two_sets, key):
    ours, _ = two_sets
    _edit_manifest(current_generation(ours), key, lambda o: o.update(signing_key_id="0123456789abcdef"))
    with pytest.raises(BadSignatureError, match="signing_key_id does not name"):
        read(ours, key)


def test_generation_renamed_to_another_revision_is_refused(two_sets, key):
    ours, _ = two_sets
    gen = current_generation(ours)
    moved = ours / gen.name.replace("g000000000005", "g000000000009")
    gen.rename(moved)
    (ours / "CURRENT").write_bytes(moved.name.encode() + b"\n")
    with pytest.raises(MalformedSetError, match="moved or renamed"):
        read(ours, key)


# ---- maximum validity ---------------------------------------------------------------------------

def test_maximum_validity(tmp_path, key):
    with pytest.raises(ExportError, match="at most 31 days"):
        export(tmp_path / "long", key, valid_for=timedelta(days=32))
    assert not (tmp_path / "long" / "CURRENT").exists()
    export(tmp_path / "max", key, valid_for=timedelta(days=31))
    read(tmp_path / "max", key, now=NOW + timedelta(days=31) - timedelta(seconds=1))
    with pytest.raises(ExpiredError):
        read(tmp_path / "max", key, now=NOW + timedelta(days=31))
    gen = current_generation(tmp_path / "max")
    _edit_manifest(gen, key, lambda o: o.update(valid_until="2026-03-01T09:30:00Z"))  # a year, signed
    with pytest.raises(MalformedSetError, match="longer than the format's maximum of 31 days"):
        read(tmp_path / "max", key)


# ---- the practice and the state are required -----------------------------------------------------

def test_without_state_a_rollback_cannot_be_accepted(tmp_path, key):
    ours = tmp_path / "ours"
    export(ours, key, revision=4)
    old = current_generation(ours)
    kept = tmp_path / "kept-old"
    shutil.copytree(old, kept / old.name)
    export(ours, key, make_rows(NHS[:11]), revision=5)
    state_file = tmp_path / "state.json"
    state.record_seen(state_file, read(ours, key, state_path=state_file).manifest)
    # The attacker puts the previous generation back (no link: a real copy, correctly signed).
    shutil.copytree(kept / old.name, ours / old.name, dirs_exist_ok=True)
    (ours / "CURRENT").write_bytes(old.name.encode() + b"\n")
    with pytest.raises(RevisionRollbackError, match="revision 4, older than revision 5"):
        read(ours, key, state_path=state_file)
    with pytest.raises(ConsumerSetupError, match="state file"):
        read(ours, key, state_path=None)
    with pytest.raises(TypeError):
        read_export(ours, key.public_key(), practice_ods="F84003", now=NOW)  # no default that skips the check


def test_without_practice_another_practices_set_cannot_be_accepted(tmp_path, key):
    from gp_optout_desktop.exclusion.writer import write_export

    other = tmp_path / "other"
    write_export(other, make_rows([]), private_key=key, practice_ods="B82001", register_revision=9,
                 mode="exclude-listed", audit_chain_head="0:genesis", generated_at=NOW)
    with pytest.raises(WrongPracticeError, match="for practice B82001, not F84003"):
        read(other, key)
    for missing in (None, "", "   "):
        with pytest.raises(ConsumerSetupError, match="which practice"):
            read(other, key, practice_ods=missing)
    with pytest.raises(ConsumerSetupError, match="not an ODS code"):
        read(other, key, practice_ods="nope")
    with pytest.raises(TypeError):
        read_export(other, key.public_key(), state_path=fresh_state(), now=NOW)


def test_filter_candidates_without_practice_or_state_empties_the_output(tmp_path, key):
    export(tmp_path / "x", key)
    src, out = tmp_path / "c.csv", tmp_path / "allowed.csv"
    src.write_text(f"nhs_number\n{NHS[30]}\n")
    out.write_text("stale allowed list\n")
    with pytest.raises(ConsumerSetupError):
        consult_mod.filter_candidates(tmp_path / "x", key.public_key(), src, out, practice_ods=None,
                                      state_path=tmp_path / "s.json", now=NOW)
    assert out.read_bytes() == b""
    with pytest.raises(ConsumerSetupError):
        consult_mod.filter_candidates(tmp_path / "x", key.public_key(), src, out, practice_ods="F84003",
                                      state_path=None, now=NOW)
    assert out.read_bytes() == b""


@pytest.mark.parametrize("drop", ["--practice", "--state"])
def test_consult_command_requires_practice_and_state(tmp_path, key, capsys, drop):
    export(tmp_path / "x", key)
    (tmp_path / "pub.pem").write_bytes(signing.public_key_pem(key))
    (tmp_path / "c.csv").write_text(f"nhs_number\n{NHS[30]}\n")
    argv = ["consult", "--exclusions", str(tmp_path / "x"), "--public-key", str(tmp_path / "pub.pem"),
            "--in", str(tmp_path / "c.csv"), "--out", str(tmp_path / "o.csv"),
            "--practice", "F84003", "--state", str(tmp_path / "s.json")]
    i = argv.index(drop)
    del argv[i:i + 2]
    with pytest.raises(SystemExit) as exc:
        cli_exclusion.main(argv)
    assert exc.value.code == 2
    assert f"the following arguments are required: {drop}" in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()


def test_state_file_with_duplicate_keys_is_refused(tmp_path, key):
    export(tmp_path / "x", key)
    bad = tmp_path / "s.json"
    bad.write_text('{"format": "gp-optout-exclusion-state", "version": 1, "practices": '
                   '{"F84003": {"highest_revision": 9}, "F84003": {"highest_revision": 1}}}')
    with pytest.raises(StateFileError, match="not a valid record"):
        read(tmp_path / "x", key, state_path=bad)


def test_consult_command_fails_closed_on_a_linked_set(key, tmp_path, capsys):
    """Through the command a practice runs: the link is refused, the output emptied, exit 1."""
    from datetime import datetime, timezone

    ours, elsewhere = tmp_path / "live", tmp_path / "other"
    export(ours, key, when=datetime.now(timezone.utc))
    export(elsewhere, key, make_rows([]), when=datetime.now(timezone.utc))
    gen = current_generation(ours)
    (gen / "exclusions.csv").unlink()
    os.symlink(current_generation(elsewhere) / "exclusions.csv", gen / "exclusions.csv")
    (tmp_path / "pub.pem").write_bytes(signing.public_key_pem(key))
    (tmp_path / "c.csv").write_text(f"nhs_number\n{NHS[0]}\n{NHS[30]}\n")
    (tmp_path / "o.csv").write_text(f"nhs_number\n{NHS[0]}\n")  # a stale allowed list
    code = cli_exclusion.main(["consult", "--exclusions", str(ours), "--public-key", str(tmp_path / "pub.pem"),
                               "--in", str(tmp_path / "c.csv"), "--out", str(tmp_path / "o.csv"),
                               "--practice", "F84003", "--state", str(tmp_path / "s.json")])
    assert code == 1 and (tmp_path / "o.csv").read_bytes() == b""
    assert "nothing may be extracted" in capsys.readouterr().err
