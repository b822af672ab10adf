"""The key hierarchy above the data key (see docs/adr/0006-threat-model-and-key-hierarchy.md).

The data key is in every user's slot, so anything the database holds in the clear is within
a receptionist's reach. What must stay above them hangs from the MANAGER KEY, a random
secret wrapped only in practice managers' slots and the recovery slot:

- the certificate signing key (Ed25519, derived from the manager key with HKDF): it signs
  each user's record (register id, name, role, active, the user's audit public key). A role
  edited in the database is refused at unlock, reported by ``user list`` and ``audit verify``;
- the exclusion file's signing seed, wrapped (AES-GCM) under a key derived from it.

Each user has their own audit key pair (Ed25519): the private half is wrapped in their own
slot, the public half is in their certificate. Certificates live in ``user_certs``; each
carries ``from_seq``, the audit sequence from which it is in force, so a superseded role
cannot be claimed for later entries.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import meta
from .errors import RecordNotCertified, StoreError

MANAGER_SECRET = "manager"  # slot label of the wrapped manager key
AUDIT_SECRET = "audit"  # slot label of the user's wrapped audit signing seed
MANAGER_PUB = "manager_pub"  # meta key (and key file field): hex of the certificate public key
EXCLUSION_SEED = "export_signing_key_sealed"  # meta key: the exclusion seed wrapped under the manager key
PENDING_AUDIT = "pending_audit_keys"  # meta key: see upgrade in store/register.py


def _hkdf(secret: bytes, label: str) -> bytes:
    return HKDF(hashes.SHA256(), 32, None, f"gp-optout manager {label}".encode("utf-8")).derive(secret)


def raw_public(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def new_manager_key() -> bytes:
    return secrets.token_bytes(32)


def cert_signing_key(manager_key: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(_hkdf(manager_key, "certificates"))


def manager_public_hex(manager_key: bytes) -> str:
    return raw_public(cert_signing_key(manager_key)).hex()


def new_audit_seed() -> bytes:
    return secrets.token_bytes(32)


def audit_private(seed: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed)


# ---- the exclusion seed under the manager key -------------------------------------------

def seal_exclusion_seed(manager_key: bytes, register_id: str, seed: bytes) -> dict:
    nonce = secrets.token_bytes(12)
    ct = AESGCM(_hkdf(manager_key, "exclusion")).encrypt(nonce, seed, f"{register_id}|exclusion".encode())
    return {"nonce": nonce.hex(), "wrapped": ct.hex()}


def open_exclusion_seed(manager_key: bytes, register_id: str, sealed: dict) -> bytes:
    try:
        return AESGCM(_hkdf(manager_key, "exclusion")).decrypt(
            bytes.fromhex(sealed["nonce"]), bytes.fromhex(sealed["wrapped"]), f"{register_id}|exclusion".encode())
    except (InvalidTag, KeyError, TypeError, ValueError):
        raise StoreError("The exclusion file's signing key in the register is damaged or was replaced: "
                         "it does not open with the manager key. Restore the latest backup.") from None


# ---- certificates ---------------------------------------------------------------------

@dataclass(frozen=True)
class Cert:
    serial: int
    name: str
    role: str
    active: bool
    audit_pub: str  # hex, 32 bytes
    from_seq: int
    register_id: str

    def body(self) -> bytes:
        return json.dumps({"register_id": self.register_id, "serial": self.serial, "name": self.name,
                           "role": self.role, "active": self.active, "audit_pub": self.audit_pub,
                           "from_seq": self.from_seq}, sort_keys=True, separators=(",", ":")).encode("utf-8")

    def public_key(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(self.audit_pub))


def issue(conn, manager_key: bytes, register_id: str, *, name: str, role: str, active: bool, audit_pub: bytes,
          from_seq: int) -> Cert:
    serial = conn.execute("SELECT coalesce(max(serial), 0) + 1 FROM user_certs").fetchone()[0]
    cert = Cert(serial, name, role, bool(active), audit_pub.hex(), int(from_seq), register_id)
    sig = cert_signing_key(manager_key).sign(cert.body())
    conn.execute("INSERT INTO user_certs(serial, name, body, sig) VALUES (?,?,?,?)",
                 (serial, name, cert.body().decode("utf-8"), sig.hex()))
    return cert


def _parse(body: str, serial: int) -> Cert | None:
    try:
        d = json.loads(body)
        cert = Cert(int(d["serial"]), str(d["name"]), str(d["role"]), bool(d["active"]), str(d["audit_pub"]),
                    int(d["from_seq"]), str(d["register_id"]))
    except (ValueError, KeyError, TypeError):
        return None
    return cert if cert.serial == serial else None


def load_all(conn, manager_pub_hex: str, register_id: str) -> tuple[dict[int, Cert], list[str]]:
    """Every certificate whose signature verifies with the manager's public key; and problems."""
    problems: list[str] = []
    certs: dict[int, Cert] = {}
    try:
        anchor = Ed25519PublicKey.from_public_bytes(bytes.fromhex(manager_pub_hex))
    except (ValueError, TypeError):
        return {}, ["the manager's public key is malformed."]
    for serial, _name, body, sig in conn.execute("SELECT serial, name, body, sig FROM user_certs ORDER BY serial"):
        cert = _parse(body, serial)
        try:
            if cert is None:
                raise InvalidSignature
            anchor.verify(bytes.fromhex(sig), body.encode("utf-8"))
            if cert.register_id != register_id:
                raise InvalidSignature
        except (InvalidSignature, ValueError, TypeError):
            problems.append(f"user certificate {serial} is not signed by the manager key (forged or altered).")
            continue
        certs[serial] = cert
    return certs, problems


def in_force(certs: dict[int, Cert], name: str, seq: int) -> Cert | None:
    """The certificate in force for ``name`` at audit entry ``seq`` (the latest issued before it)."""
    best = None
    for cert in certs.values():
        if cert.name == name and cert.from_seq <= seq and (best is None or cert.serial > best.serial):
            best = cert
    return best


def latest(certs: dict[int, Cert], name: str) -> Cert | None:
    found = [c for c in certs.values() if c.name == name]
    return max(found, key=lambda c: c.serial) if found else None


def anchor_pub(conn, keys, manager_key: bytes | None) -> str:
    """The manager public key to trust: derived from the manager key when this session holds
    it; otherwise the one in the register, which must agree with the key file's copy."""
    stored = meta.get(conn, MANAGER_PUB)
    if manager_key is not None:
        derived = manager_public_hex(manager_key)
        if stored != derived or keys.data.get("manager_pub") not in (None, derived):
            raise RecordNotCertified("The manager's public key in the register or key file was replaced: the register "
                                     "was tampered with. Restore the latest backup.")
        return derived
    if not stored or keys.data.get("manager_pub") != stored:
        raise RecordNotCertified("The manager's public key in the register and in the key file disagree: the "
                                 "register was tampered with. A practice manager must check it (audit verify).")
    return stored


def record_problems(conn, certs: dict[int, Cert]) -> list[str]:
    """Every user record (name, role, active) that differs from its latest certificate."""
    problems = []
    seen = set()
    for name, role, active in conn.execute("SELECT name, role, active FROM users ORDER BY name"):
        seen.add(name)
        cert = latest(certs, name)
        if cert is None:
            if active:
                problems.append(f"user {name} has no certificate signed by the manager key.")
        elif cert.role != role or cert.active != bool(active):
            problems.append(f"user {name}'s record (role {role}, {'active' if active else 'removed'}) differs from "
                            f"its certificate (role {cert.role}, {'active' if cert.active else 'removed'}).")
    return problems


def check_user(conn, certs: dict[int, Cert], name: str, role: str, audit_pub: bytes | None) -> Cert:
    cert = latest(certs, name)
    if cert is None or cert.role != role or not cert.active:
        raise RecordNotCertified(
            f"The user record for {name} does not match its certificate signed by the manager key (its role was "
            "changed outside the app, or it was added without a practice manager). Unlock refused; a practice "
            "manager must run 'audit verify' and restore the latest backup if it was tampered with.")
    if audit_pub is not None and cert.audit_pub != audit_pub.hex():
        raise RecordNotCertified(f"The audit key in {name}'s key slot is not the one in their certificate. Unlock "
                                 "refused; ask a practice manager to reset your password.")
    return cert
