"""Ed25519 keys and detached signatures (the `cryptography` package).

The register keeps the private key's 32 raw bytes inside its encrypted database; the
consuming system holds only the public key as PEM (SubjectPublicKeyInfo), exported once.
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import BadSignatureError, KeyFileError

SIGNATURE_BYTES = 64


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_bytes(key: Ed25519PrivateKey) -> bytes:
    """Raw 32-byte seed: to be stored only inside the encrypted register."""
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def private_key_from_bytes(raw: bytes) -> Ed25519PrivateKey:
    try:
        return Ed25519PrivateKey.from_private_bytes(raw)
    except (ValueError, TypeError) as exc:
        raise KeyFileError("The stored signing key is not a 32-byte Ed25519 key.") from exc


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key_pem(data: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise KeyFileError("The public key file is not a PEM public key.") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError("The public key file holds a key of another type; an Ed25519 key is needed.")
    return key


def key_id(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """First 16 hex digits of SHA-256 of the raw public key: names the key in messages and manifests."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign(key: Ed25519PrivateKey, data: bytes) -> bytes:
    return key.sign(data)


def verify(key: Ed25519PublicKey, data: bytes, signature: bytes) -> None:
    """Raise BadSignatureError unless ``signature`` is ``key``'s signature over exactly ``data``."""
    if len(signature) != SIGNATURE_BYTES:
        raise BadSignatureError(
            f"The manifest signature is {len(signature)} bytes; an Ed25519 signature is {SIGNATURE_BYTES}."
        )
    try:
        key.verify(signature, data)
    except InvalidSignature:
        raise BadSignatureError(
            "The manifest's signature does not verify with this public key: the set was altered or signed by another register."
        ) from None
