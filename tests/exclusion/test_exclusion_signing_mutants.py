"""The signing keys and signatures (exclusion/signing.py) as an operator meets them: the key
named by a stable id, the public key round-tripped through PEM, and each way a key file or
a signature is wrong said in words."""
from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gp_optout_desktop.exclusion import signing
from gp_optout_desktop.exclusion.errors import BadSignatureError, KeyFileError


def test_the_key_id_is_the_start_of_the_public_keys_hash_for_either_half(key):
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert signing.key_id(key) == hashlib.sha256(raw).hexdigest()[:16]
    assert signing.key_id(key.public_key()) == signing.key_id(key)


def test_the_private_key_survives_its_32_stored_bytes_and_the_public_key_its_pem(key):
    raw = signing.private_key_bytes(key)
    assert len(raw) == 32
    assert signing.key_id(signing.private_key_from_bytes(raw)) == signing.key_id(key)
    pem = signing.public_key_pem(key)
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----") and pem == signing.public_key_pem(key.public_key())
    assert signing.key_id(signing.load_public_key_pem(pem)) == signing.key_id(key)


@pytest.mark.parametrize("raw", [b"\x00" * 31, b"", "not bytes"])
def test_a_stored_key_of_the_wrong_shape_is_named(raw):
    with pytest.raises(KeyFileError) as err:
        signing.private_key_from_bytes(raw)
    assert str(err.value) == "The stored signing key is not a 32-byte Ed25519 key."


def test_a_public_key_file_that_is_not_pem_or_not_ed25519_is_named():
    with pytest.raises(KeyFileError) as err:
        signing.load_public_key_pem(b"ssh-ed25519 AAAA")
    assert str(err.value) == "The public key file is not a PEM public key."
    other = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(KeyFileError) as err:
        signing.load_public_key_pem(other)
    assert str(err.value) == "The public key file holds a key of another type; an Ed25519 key is needed."


def test_a_signature_verifies_only_over_the_same_bytes_with_the_same_key(key, other_key):
    signature = signing.sign(key, b"manifest bytes")
    assert len(signature) == signing.SIGNATURE_BYTES == 64
    signing.verify(key.public_key(), b"manifest bytes", signature)
    for public, data in ((key.public_key(), b"manifest bytez"), (other_key.public_key(), b"manifest bytes")):
        with pytest.raises(BadSignatureError) as err:
            signing.verify(public, data, signature)
        assert str(err.value) == ("The manifest's signature does not verify with this public key: the set was "
                                  "altered or signed by another register.")


@pytest.mark.parametrize("length", [0, 63, 65])
def test_a_signature_of_the_wrong_length_says_so(key, length):
    with pytest.raises(BadSignatureError) as err:
        signing.verify(key.public_key(), b"manifest bytes", b"\x01" * length)
    assert str(err.value) == f"The manifest signature is {length} bytes; an Ed25519 signature is 64."
