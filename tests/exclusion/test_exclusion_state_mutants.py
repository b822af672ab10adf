"""The consumer's memory of revisions seen (exclusion/state.py), as an extraction operator
meets it: an old set put back is refused in words, the highest revision is kept per
practice, and a state file that cannot be trusted is named, never silently reset."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from excl_helpers import NOW
from gp_optout_desktop.exclusion import state
from gp_optout_desktop.exclusion.errors import RevisionRollbackError, StateFileError
from gp_optout_desktop.exclusion.format import Manifest


def manifest(revision: int, ods: str = "F84003", sha: str = "a" * 64) -> Manifest:
    return Manifest(practice_ods=ods, generated_at=NOW, valid_until=NOW + timedelta(days=7),
                    register_revision=revision, mode="exclude-listed", row_count=0, list_sha256=sha,
                    audit_chain_head="0:genesis", signing_key_id="0" * 16)


def test_a_first_use_has_seen_nothing(tmp_path):
    assert state.highest_seen(tmp_path / "state.json", "F84003") is None
    state.check_not_rolled_back(tmp_path / "state.json", manifest(0))


def test_the_highest_revision_is_kept_per_practice_with_when_and_which_list(tmp_path):
    path = tmp_path / "state.json"
    state.record_seen(path, manifest(7, sha="b" * 64))
    state.record_seen(path, manifest(5))                 # older: not recorded over the newer
    state.record_seen(path, manifest(7, sha="c" * 64))   # the same revision again: kept as first seen
    state.record_seen(path, manifest(2, ods="M85001"))
    saved = json.loads(path.read_text())
    assert saved == {"format": "gp-optout-exclusion-state", "version": 1, "practices": {
        "F84003": {"highest_revision": 7, "generated_at": "2025-03-01T09:30:00Z", "list_sha256": "b" * 64},
        "M85001": {"highest_revision": 2, "generated_at": "2025-03-01T09:30:00Z", "list_sha256": "a" * 64}}}
    assert state.highest_seen(path, "F84003") == 7 and state.highest_seen(path, "M85001") == 2
    state.record_seen(path, manifest(8))
    assert state.highest_seen(path, "F84003") == 8


def test_an_older_set_put_back_is_refused_and_the_same_one_is_not(tmp_path):
    path = tmp_path / "state.json"
    state.record_seen(path, manifest(7))
    state.check_not_rolled_back(path, manifest(7))
    state.check_not_rolled_back(path, manifest(3, ods="M85001"))   # another practice's numbering
    with pytest.raises(RevisionRollbackError) as err:
        state.check_not_rolled_back(path, manifest(6))
    assert str(err.value) == ("The exclusion set is register revision 6, older than revision 7 already used here: "
                              "an old set may have been put back.")


@pytest.mark.parametrize("content", [
    b"not json",
    b"[]",
    json.dumps({"format": "something-else", "version": 1, "practices": {}}).encode(),
    json.dumps({"format": "gp-optout-exclusion-state", "version": 2, "practices": {}}).encode(),
    json.dumps({"format": "gp-optout-exclusion-state", "version": 1, "practices": []}).encode(),
    json.dumps({"format": "gp-optout-exclusion-state", "version": 1}).encode(),
    json.dumps({"format": "gp-optout-exclusion-state", "version": 1,
                "practices": {"F84003": {"highest_revision": -1}}}).encode(),
    json.dumps({"format": "gp-optout-exclusion-state", "version": 1,
                "practices": {"F84003": {"highest_revision": True}}}).encode(),
    json.dumps({"format": "gp-optout-exclusion-state", "version": 1,
                "practices": {"F84003": {"highest_revision": "7"}}}).encode(),
    json.dumps({"format": "gp-optout-exclusion-state", "version": 1, "practices": {"F84003": 7}}).encode(),
])
def test_a_state_file_that_cannot_be_trusted_is_named_and_left_alone(tmp_path, content):
    path = tmp_path / "state.json"
    path.write_bytes(content)
    for call in (lambda: state.highest_seen(path, "F84003"), lambda: state.record_seen(path, manifest(9))):
        with pytest.raises(StateFileError) as err:
            call()
        assert str(err.value) == (f"The state file {path} is not a valid record of revisions seen; fix or delete it "
                                  "deliberately.")
    assert path.read_bytes() == content


def test_a_state_file_that_cannot_be_read_says_why(tmp_path):
    path = tmp_path / "state.json"
    path.mkdir()
    with pytest.raises(StateFileError) as err:
        state.highest_seen(path, "F84003")
    assert str(err.value) == f"The state file {path} cannot be read (Is a directory)."


def test_a_revision_of_zero_is_a_revision_seen(tmp_path):
    path = tmp_path / "state.json"
    state.record_seen(path, manifest(0))
    assert state.highest_seen(path, "F84003") == 0
