"""Ed25519 keys: PEM export/import, raw storage, verification, and interop with OpenSSL."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from gp_optout_desktop.exclusion import signing
from gp_optout_desktop.exclusion.errors import BadSignatureError, KeyFileError


def test_sign_verify_and_pem_round_trip(key, other_key):
    sig = signing.sign(key, b"manifest bytes")
    pub = signing.load_public_key_pem(signing.public_key_pem(key))
    signing.verify(pub, b"manifest bytes", sig)
    assert signing.key_id(pub) == signing.key_id(key) != signing.key_id(other_key)
    with pytest.raises(BadSignatureError, match="does not verify"):
        signing.verify(pub, b"manifest bytez", sig)
    with pytest.raises(BadSignatureError, match="does not verify"):
        signing.verify(other_key.public_key(), b"manifest bytes", sig)
    with pytest.raises(BadSignatureError, match="63 bytes"):
        signing.verify(pub, b"manifest bytes", sig[:-1])


def test_private_key_raw_bytes_round_trip(key):
    raw = signing.private_key_bytes(key)
    assert len(raw) == 32
    assert signing.key_id(signing.private_key_from_bytes(raw)) == signing.key_id(key)
    with pytest.raises(KeyFileError):
        signing.private_key_from_bytes(b"short")


def test_public_key_pem_refuses_garbage_and_other_key_types():
    with pytest.raises(KeyFileError, match="not a PEM"):
        signing.load_public_key_pem(b"hello")
    x = X25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(KeyFileError, match="Ed25519"):
        signing.load_public_key_pem(x)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_openssl_verifies_our_signature(tmp_path, key):
    """The spec tells the consuming side it can verify with stock OpenSSL 3: prove the command works."""
    data = b'{"example": true}\n'
    (tmp_path / "manifest.json").write_bytes(data)
    (tmp_path / "manifest.sig").write_bytes(signing.sign(key, data))
    (tmp_path / "pub.pem").write_bytes(signing.public_key_pem(key))
    cmd = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", "manifest.json", "-sigfile", "manifest.sig"]
    ok = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    (tmp_path / "manifest.json").write_bytes(data.replace(b"true", b"fals"))
    bad = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode != 0
