"""Per-practice keys, the identity blob and the blind indexes the server searches.

The server never holds a key: the desk derives everything here from the practice's data key
(unwrapped from the user's key slot on the desk, ADR 0006) and sends only AES-256-GCM
ciphertext and truncated HMACs. Separate HKDF labels keep the field key, the blind-index key
and the audit MAC key independent: a leaked blind index key decrypts nothing.

Blind indexes leak equality and frequency within one practice (docs/adr/0005). Normalisation
is the SQLite search's own (store/patients.py: surname_key, postcode.search_key,
nhs_number.normalise), so a search finds on the server what it finds in a register file.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from datetime import date

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ...domain import postcode as postcode_mod
from ...domain.patient import Patient
from ..errors import KeyDamaged, RegisterCorrupt

FIELD_LABEL = b"gp-optout server v1 field encryption"
INDEX_LABEL = b"gp-optout server v1 blind index"
AUDIT_LABEL = b"gp-optout server v1 audit chain"
KEY_ID_LABEL = b"gp-optout key id"
NONCE_BYTES = 12
# The NHS number's index is unique per practice, so it must not collide: 16 bytes. The others
# are search candidates filtered on the desk after decryption: 4 bytes is plenty (a chance
# collision costs one extra decryption), and a shorter value tells the server less.
NHS_INDEX_BYTES = 16
TOKEN_BYTES = 4
SURNAME_PREFIXES = 4  # tokens for the first 1..4 letters; a longer prefix filters on the desk
NHS_PREFIXES = range(3, 10)  # the desk's "NHS number starting" search (3 to 9 digits)
POSTCODE_MIN = 2  # the shortest postcode-like search text ("N1")


def _hkdf(data_key: bytes, practice_ref: str, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=practice_ref.encode("utf-8"), info=label).derive(data_key)


def surname_key(surname: str) -> str:
    """As store.patients.surname_key: the key the SQLite search orders and ranges on."""
    return surname.casefold()


@dataclass(frozen=True)
class PracticeKeys:
    """The three keys one practice's desk uses on the server; derived, never stored."""

    practice_ref: str
    field_key: bytes
    index_key: bytes
    audit_key: bytes
    # The keys of earlier epochs (a re-keyed practice: store/server/rekey.py), oldest first: the
    # chain before each epoch verifies under them, and the audit trail names a patient by an
    # earlier blind index in entries written before the re-key.
    retired_audit_keys: tuple = ()
    retired_index_keys: tuple = ()

    @classmethod
    def derive(cls, data_key: bytes, practice_ref: str) -> "PracticeKeys":
        if len(data_key) != 32:
            raise ValueError("a practice data key is 32 bytes")
        return cls(practice_ref, _hkdf(data_key, practice_ref, FIELD_LABEL),
                   _hkdf(data_key, practice_ref, INDEX_LABEL), _hkdf(data_key, practice_ref, AUDIT_LABEL))

    @property
    def key_id(self) -> str:
        """Names this key in an epoch entry without revealing it (ADR 0015 addendum, re-keying)."""
        return key_id(self.audit_key)

    def __repr__(self) -> str:  # never print key material
        return f"PracticeKeys({self.practice_ref!r})"

    # -- blind indexes -------------------------------------------------------------------
    def _token(self, kind: str, value: str, size: int = TOKEN_BYTES) -> bytes:
        mac = hmac.new(self.index_key, f"{kind}\x00{value}".encode("utf-8"), hashlib.sha256).digest()
        return mac[:size]

    def nhs_index(self, nhs: str) -> bytes:
        return self._token("nhs", nhs, NHS_INDEX_BYTES)

    def surname_prefix_token(self, prefix_key: str) -> bytes:
        """The token for a casefolded surname prefix; prefixes longer than SURNAME_PREFIXES
        use their first SURNAME_PREFIXES letters (the desk filters the rest)."""
        return self._token("surname", prefix_key[:SURNAME_PREFIXES])

    def dob_token(self, dob_iso: str) -> bytes:
        return self._token("dob", dob_iso)

    def postcode_token(self, key_prefix: str) -> bytes:
        return self._token("postcode", key_prefix)

    def nhs_prefix_token(self, digits: str) -> bytes:
        return self._token("nhs_prefix", digits)

    def search_tokens(self, p: Patient) -> set[bytes]:
        """Every token one patient is found by: surname prefixes, date of birth, postcode
        prefixes (whatever the spacing), NHS number prefixes."""
        out: set[bytes] = set()
        key = surname_key(p.surname)
        for n in range(1, min(len(key), SURNAME_PREFIXES) + 1):
            out.add(self.surname_prefix_token(key[:n]))
        out.add(self.dob_token(p.dob.isoformat()))
        pkey = postcode_mod.search_key(p.postcode)
        for n in range(POSTCODE_MIN, len(pkey) + 1):
            out.add(self.postcode_token(pkey[:n]))
        if p.nhs_number:
            for n in NHS_PREFIXES:
                out.add(self.nhs_prefix_token(p.nhs_number[:n]))
        return out

    def audit_ref(self, nhs: str | None, patient_id: int | None) -> str:
        """What the audit names a patient by on the server: never the NHS number itself."""
        if nhs:
            return "nhs:" + self.nhs_index(nhs).hex()
        return f"id:{patient_id}" if patient_id is not None else ""

    def audit_refs(self, nhs: str) -> list[str]:
        """Every name the trail may give this NHS number: under this key and each earlier one."""
        earlier = [hmac.new(k, f"nhs\x00{nhs}".encode("utf-8"), hashlib.sha256).digest()[:NHS_INDEX_BYTES]
                   for k in self.retired_index_keys]
        return [self.audit_ref(nhs, None)] + ["nhs:" + b.hex() for b in earlier]

    # -- the identity blob ---------------------------------------------------------------
    def _aad(self, practice_id: int, table: str, row_id: int) -> bytes:
        return f"{practice_id}|{table}|{row_id}".encode("utf-8")

    def seal(self, practice_id: int, table: str, row_id: int, fields: dict) -> bytes:
        """nonce || AES-256-GCM(fields as JSON); bound to its practice, table and row, so a
        blob copied onto another row or practice fails to open."""
        nonce = os.urandom(NONCE_BYTES)
        plain = json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
        return nonce + AESGCM(self.field_key).encrypt(nonce, plain, self._aad(practice_id, table, row_id))

    def open(self, practice_id: int, table: str, row_id: int, blob: bytes) -> dict:
        blob = bytes(blob)
        try:
            plain = AESGCM(self.field_key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:],
                                                   self._aad(practice_id, table, row_id))
        except InvalidTag:
            raise RegisterCorrupt(f"A {table} row on the server fails its check: it was altered, moved, "
                                  "or sealed under another practice's key.") from None
        return json.loads(plain)

    def seal_patient(self, practice_id: int, p: Patient, row_id: int) -> bytes:
        return self.seal(practice_id, "patients", row_id, patient_fields(p))

    def open_patient(self, practice_id: int, row_id: int, blob: bytes) -> Patient:
        f = self.open(practice_id, "patients", row_id, blob)
        return Patient(
            patient_id=row_id, nhs_number=f["nhs"], title=f["title"], surname=f["surname"],
            forenames=f["forenames"], dob=date.fromisoformat(f["dob"]), address=tuple(f["address"]),
            postcode=f["postcode"], phone=f["phone"], email=f["email"],
        )


def key_id(audit_key: bytes) -> str:
    return hmac.new(audit_key, KEY_ID_LABEL, hashlib.sha256).digest()[:16].hex()


def patient_fields(p: Patient) -> dict:
    return {
        "nhs": p.nhs_number, "title": p.title, "surname": p.surname, "forenames": p.forenames,
        "dob": p.dob.isoformat(), "address": list(p.address), "postcode": p.postcode,
        "phone": p.phone, "email": p.email,
    }


def _slot_aad(practice_ref: str, user: str) -> bytes:
    return f"gp-optout server key slot|{practice_ref}|{user}".encode("utf-8")


def wrap_data_key(unwrap_key: bytes, data_key: bytes, practice_ref: str, user: str) -> bytes:
    """A user's key slot as the server stores it: the practice data key under the unwrap key
    the desk derived from the user's password (store.keyfile.derive_server_secrets), bound to
    the practice and the user, so a slot copied to another user or practice fails to open."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(unwrap_key).encrypt(nonce, data_key, _slot_aad(practice_ref, user))


def unwrap_data_key(unwrap_key: bytes, slot: bytes, practice_ref: str, user: str) -> bytes:
    """The practice data key from a slot. The server accepted this user's login, derived from
    the same Argon2id run as the unwrap key, so the password was right: a slot that does not
    open is damaged or moved, never a wrong password."""
    slot = bytes(slot)
    try:
        return AESGCM(unwrap_key).decrypt(slot[:NONCE_BYTES], slot[NONCE_BYTES:], _slot_aad(practice_ref, user))
    except InvalidTag:
        raise KeyDamaged(f"{user}'s key slot on the server does not open: it is damaged or was altered. "
                         "A practice manager can reset this user's password.") from None
