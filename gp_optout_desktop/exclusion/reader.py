"""Read and verify an exclusion set. Any doubt raises an ExclusionSetError: extract nobody.

Checks, in order: the pointer and every file exist; format version; the signature over
the manifest bytes; the practice; the dates; the revision against the consumer's state;
the list's SHA-256, row count and every row; the optional national-check list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..domain.exclusion_rules import EXCLUDE_LISTED, ExclusionRow
from . import signing, state
from .errors import (
    BadSignatureError,
    CountMismatchError,
    ExpiredError,
    HashMismatchError,
    MalformedSetError,
    MissingFileError,
    NotYetValidError,
    UnreadableFileError,
    WrongPracticeError,
)
from .format import (
    GENERATION_RE,
    LIST_FILE,
    MANIFEST_FILE,
    NATIONAL_FILE,
    POINTER_FILE,
    SIGNATURE_FILE,
    Manifest,
    format_ts,
    parse_manifest,
    parse_national,
    parse_rows,
    peek_format_version,
    sha256_hex,
)

# A set stamped further in the future than this means a wrong clock on one side.
CLOCK_SKEW = timedelta(minutes=10)


@dataclass(frozen=True)
class ExclusionSet:
    manifest: Manifest
    rows: tuple[ExclusionRow, ...]
    generation: Path
    nhs_numbers: frozenset[str] = field(repr=False)

    def may_extract(self, nhs_number: str) -> bool:
        """The mode's meaning, in one place: listed means excluded, or listed means included."""
        listed = nhs_number in self.nhs_numbers
        return not listed if self.manifest.mode == EXCLUDE_LISTED else listed


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise MissingFileError(f"The public key file {path} does not exist.") from None
    return signing.load_public_key_pem(data)


def current_generation(directory: Path) -> Path:
    directory = Path(directory)
    if not directory.is_dir():
        raise MissingFileError(f"The exclusion folder {directory} does not exist.")
    try:
        name = (directory / POINTER_FILE).read_bytes()
    except FileNotFoundError:
        raise MissingFileError(
            f"The exclusion folder {directory} has no {POINTER_FILE} file: no exclusion set has been exported there."
        ) from None
    except OSError as exc:
        raise UnreadableFileError(f"The {POINTER_FILE} file in {directory} cannot be read ({exc.strerror}).") from None
    try:
        text = name.decode("ascii")
    except UnicodeDecodeError:
        text = ""
    if not text.endswith("\n") or not GENERATION_RE.match(text[:-1]):
        raise MalformedSetError(f"The {POINTER_FILE} file in {directory} does not name an export generation.")
    return directory / text[:-1]


def read_export(
    directory: Path,
    public_key: Ed25519PublicKey,
    *,
    practice_ods: str | None = None,
    state_path: Path | None = None,
    now: datetime | None = None,
) -> ExclusionSet:
    """Verify and return the current set in ``directory``; raise ExclusionSetError on any doubt."""
    gen = current_generation(directory)
    try:
        return read_generation(gen, public_key, practice_ods=practice_ods, state_path=state_path, now=now)
    except MissingFileError:
        # The writer may have pruned this generation just after we read the pointer: look once more.
        again = current_generation(directory)
        if again == gen:
            raise
        return read_generation(again, public_key, practice_ods=practice_ods, state_path=state_path, now=now)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        raise MissingFileError(f"The {what} ({path.name}) is missing from {path.parent}.") from None
    except OSError as exc:
        raise UnreadableFileError(f"The {what} ({path.name}) in {path.parent} cannot be read ({exc.strerror}).") from None


def read_generation(
    gen: Path,
    public_key: Ed25519PublicKey,
    *,
    practice_ods: str | None = None,
    state_path: Path | None = None,
    now: datetime | None = None,
) -> ExclusionSet:
    manifest_bytes = _read(gen / MANIFEST_FILE, "manifest")
    signature = _read(gen / SIGNATURE_FILE, "manifest signature")
    peek_format_version(manifest_bytes)
    try:
        signing.verify(public_key, manifest_bytes, signature)
    except BadSignatureError as exc:
        claimed = _claimed_key_id(manifest_bytes)
        ours = signing.key_id(public_key)
        if claimed and claimed != ours:
            raise BadSignatureError(f"{exc} The manifest names signing key {claimed}; the public key given is {ours}.") from None
        raise
    manifest = parse_manifest(manifest_bytes)

    if practice_ods is not None and manifest.practice_ods != practice_ods.strip().upper():
        raise WrongPracticeError(
            f"The exclusion set is for practice {manifest.practice_ods}, not {practice_ods.strip().upper()}."
        )
    now = datetime.now(timezone.utc) if now is None else now
    if now >= manifest.valid_until:
        raise ExpiredError(
            f"The exclusion set expired at {format_ts(manifest.valid_until)} (generated {format_ts(manifest.generated_at)}): export a new one."
        )
    if manifest.generated_at > now + CLOCK_SKEW:
        raise NotYetValidError(
            f"The exclusion set says it was generated at {format_ts(manifest.generated_at)}, later than now "
            f"({format_ts(now)}): check the clocks."
        )
    if state_path is not None:
        state.check_not_rolled_back(Path(state_path), manifest)

    list_bytes = _read(gen / LIST_FILE, "list file")
    if sha256_hex(list_bytes) != manifest.list_sha256:
        raise HashMismatchError("The list file's SHA-256 does not match the signed manifest: the list was altered or truncated.")
    rows = parse_rows(list_bytes)
    if len(rows) != manifest.row_count:
        raise CountMismatchError(f"The list has {len(rows)} rows but the signed manifest says {manifest.row_count}.")
    numbers = frozenset(r.nhs_number for r in rows)

    if manifest.national_list is not None:
        national_bytes = _read(gen / NATIONAL_FILE, "national-check list")
        if sha256_hex(national_bytes) != manifest.national_list.sha256:
            raise HashMismatchError("The national-check list's SHA-256 does not match the signed manifest.")
        national = parse_national(national_bytes)
        if len(national) != manifest.national_list.row_count:
            raise CountMismatchError("The national-check list's row count does not match the signed manifest.")
        if national != [r.nhs_number for r in rows]:
            raise MalformedSetError("The national-check list does not hold exactly the NHS numbers of the list file.")
    return ExclusionSet(manifest=manifest, rows=tuple(rows), generation=gen, nhs_numbers=numbers)


def _claimed_key_id(manifest_bytes: bytes) -> str | None:
    try:
        value = json.loads(manifest_bytes).get("signing_key_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None
