"""Server mode's per-practice keys, identity blob and blind indexes (store/server/crypto.py)."""

from __future__ import annotations

import os
from datetime import date

import pytest

from gp_optout_desktop.domain.patient import validate_patient
from gp_optout_desktop.store import patients as patients_store
from gp_optout_desktop.store.errors import RegisterCorrupt
from gp_optout_desktop.store.server.crypto import NHS_INDEX_BYTES, TOKEN_BYTES, PracticeKeys

DATA_KEY = bytes(range(32))


def _patient(surname="Smith", forenames="Jane", nhs="9990000018", postcode="SW1A 1AA", dob="1980-01-02"):
    return validate_patient(surname=surname, forenames=forenames, dob=dob, postcode_raw=postcode, nhs=nhs,
                            address=["1 High Street", "Town"], phone="01234 567890", email="jane@example.org",
                            today=date(2026, 12, 1))


def test_keys_are_separate_per_purpose_and_per_practice_and_repeatable():
    a = PracticeKeys.derive(DATA_KEY, "practice-a")
    assert len({a.field_key, a.index_key, a.audit_key}) == 3
    assert DATA_KEY not in (a.field_key, a.index_key, a.audit_key)
    b = PracticeKeys.derive(DATA_KEY, "practice-b")
    assert {a.field_key, a.index_key, a.audit_key}.isdisjoint({b.field_key, b.index_key, b.audit_key})
    assert PracticeKeys.derive(DATA_KEY, "practice-a") == a
    shown = repr(a) + str(a)
    for k in (a.field_key, a.index_key, a.audit_key):
        assert k.hex() not in shown
    with pytest.raises(ValueError):
        PracticeKeys.derive(b"short", "practice-a")


def test_identity_blob_round_trips_and_holds_no_plaintext():
    keys = PracticeKeys.derive(DATA_KEY, "p")
    p = _patient()
    blob = keys.seal_patient(7, p, 42)
    for text in ("Smith", "Jane", "9990000018", "SW1A", "1980-01-02", "High Street", "01234", "jane@"):
        assert text.encode() not in blob
    back = keys.open_patient(7, 42, blob)
    assert back == p.__class__(**{**p.__dict__, "patient_id": 42, "postcode_warning": None})
    assert keys.seal_patient(7, p, 42) != blob  # a fresh nonce each time


@pytest.mark.parametrize("practice_id, row_id", [(7, 43), (8, 42)])
def test_blob_moved_to_another_row_or_practice_fails_its_check(practice_id, row_id):
    keys = PracticeKeys.derive(DATA_KEY, "p")
    blob = keys.seal_patient(7, _patient(), 42)
    with pytest.raises(RegisterCorrupt, match="fails its check"):
        keys.open_patient(practice_id, row_id, blob)


def test_blob_altered_or_opened_with_another_practices_key_fails():
    keys = PracticeKeys.derive(DATA_KEY, "p")
    blob = bytearray(keys.seal_patient(7, _patient(), 42))
    blob[20] ^= 1
    with pytest.raises(RegisterCorrupt):
        keys.open_patient(7, 42, bytes(blob))
    other = PracticeKeys.derive(DATA_KEY, "q")
    with pytest.raises(RegisterCorrupt):
        other.open_patient(7, 42, keys.seal_patient(7, _patient(), 42))


def test_nhs_index_is_exact_keyed_and_wide_enough_to_be_unique():
    a, b = PracticeKeys.derive(DATA_KEY, "a"), PracticeKeys.derive(DATA_KEY, "b")
    assert len(a.nhs_index("9990000018")) == NHS_INDEX_BYTES
    assert a.nhs_index("9990000018") == a.nhs_index("9990000018")
    assert a.nhs_index("9990000018") != a.nhs_index("9990000026")
    assert a.nhs_index("9990000018") != b.nhs_index("9990000018")  # no linking across practices


def _tokens_for_query(keys, text):
    """The token the server search uses for what the desk typed (as store.server.ops does)."""
    q = patients_store.parse_query(text)
    return {"surname": keys.surname_prefix_token, "dob": keys.dob_token, "postcode": keys.postcode_token,
            "nhs_prefix": keys.nhs_prefix_token}[q.kind](q.value)


@pytest.mark.parametrize("typed", ["s", "SM", "smi", "Smit", "SMITHSON", "smithson, j", "02/01/1980", "1980-01-02",
                                   "SW1A", "sw1a 1", "SW1A1AA", "sw1a 1aa", "sw1", "999", "999000", "999000001"])
def test_what_the_desk_types_finds_the_patient_by_one_token(typed):
    keys = PracticeKeys.derive(DATA_KEY, "p")
    tokens = keys.search_tokens(_patient(surname="Smithson"))
    assert all(len(t) == TOKEN_BYTES for t in tokens)
    assert _tokens_for_query(keys, typed) in tokens


def test_normalisation_is_the_register_files_surname_key():
    keys = PracticeKeys.derive(DATA_KEY, "p")
    tokens = keys.search_tokens(_patient(surname="STRAßE"))  # casefold: ß -> ss, as surname_key does
    assert keys.surname_prefix_token(patients_store.surname_key("strasse")) in tokens
    assert _tokens_for_query(keys, "Jones") not in tokens


def test_a_patient_without_nhs_number_has_no_nhs_tokens_and_audit_names_the_row():
    keys = PracticeKeys.derive(DATA_KEY, "p")
    p = _patient(nhs=None)
    assert keys.nhs_prefix_token("999") not in keys.search_tokens(p)
    assert keys.audit_ref(None, 5) == "id:5"
    ref = keys.audit_ref("9990000018", 5)
    assert "9990000018" not in ref and ref == "nhs:" + keys.nhs_index("9990000018").hex()


def test_different_data_keys_give_unrelated_indexes():
    a = PracticeKeys.derive(DATA_KEY, "p")
    b = PracticeKeys.derive(os.urandom(32), "p")
    assert a.search_tokens(_patient()).isdisjoint(b.search_tokens(_patient()))


def test_a_key_slot_opens_only_for_its_user_and_practice():
    from gp_optout_desktop.store.errors import KeyDamaged
    from gp_optout_desktop.store.server.crypto import unwrap_data_key, wrap_data_key

    unwrap = os.urandom(32)
    slot = wrap_data_key(unwrap, DATA_KEY, "practice-a", "alice")
    assert DATA_KEY not in slot and unwrap not in slot
    assert unwrap_data_key(unwrap, slot, "practice-a", "alice") == DATA_KEY
    for args in ((unwrap, slot, "practice-a", "bob"), (unwrap, slot, "practice-b", "alice"),
                 (os.urandom(32), slot, "practice-a", "alice")):
        with pytest.raises(KeyDamaged, match="damaged"):
            unwrap_data_key(*args)
