"""Read and verify an exclusion set. Any doubt raises an ExclusionSetError: extract nobody.

Checks, in order (docs/exclusion-file.md section 5 numbers them as MUSTs): the folder, the
pointer, the generation folder and every file are what they say (no symbolic links, regular
files, exactly the set's files); format version; the signature over the manifest bytes;
every manifest field's type and form; the generation name against the manifest; the
practice; the dates and the maximum validity; the revision against the consumer's state;
the list's SHA-256, row count and every row.

The practice and the state file are required arguments: a consumer that leaves them out
would accept another practice's set, or an older set put back (issue 11 finding 6).
"""

from __future__ import annotations

import errno
import json
import os
import stat
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..domain import ods
from ..domain.errors import ValidationError
from ..domain.exclusion_rules import EXCLUDE_LISTED, ExclusionRow
from . import signing, state
from .errors import (
    BadSignatureError,
    ConsumerSetupError,
    CountMismatchError,
    ExpiredError,
    HashMismatchError,
    MalformedSetError,
    MissingFileError,
    NotYetValidError,
    SymlinkError,
    UnreadableFileError,
    WrongPracticeError,
)
from .format import (
    GENERATION_RE,
    LIST_FILE,
    MANIFEST_FILE,
    MAX_VALIDITY,
    POINTER_FILE,
    SET_FILES,
    SIGNATURE_FILE,
    Manifest,
    count_rows,
    format_ts,
    generation_matches,
    parse_manifest,
    parse_rows,
    peek_format_version,
    sha256_hex,
)

# A set stamped further in the future than this means a wrong clock on one side.
CLOCK_SKEW = timedelta(minutes=10)
MAX_POINTER_BYTES = 64
MAX_MANIFEST_BYTES = 64 * 1024
MAX_SIGNATURE_BYTES = 1024

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)


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


# ---- files: no symbolic links, regular files only ----------------------------------------------

def _lstat(path: Path, what: str) -> os.stat_result:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise MissingFileError(f"The {what} ({path.name}) is missing from {path.parent}.") from None
    except OSError as exc:
        raise UnreadableFileError(f"The {what} ({path.name}) in {path.parent} cannot be read ({exc.strerror}).") from None


def _refuse_link(st: os.stat_result, path: Path, what: str) -> None:
    # A link (or, on Windows, a junction or other reparse point) could lead to a signed set
    # outside the folder: another practice's, or an old one kept somewhere else.
    reparse = getattr(st, "st_file_attributes", 0) & getattr(stat, "FILE_ATTRIBUTE_REPARSE_POINT", 0)
    if stat.S_ISLNK(st.st_mode) or reparse:
        raise SymlinkError(f"The {what} ({path}) is a symbolic link; an exclusion set must not contain links.")


def check_folder(path: Path, what: str) -> None:
    st = _lstat(path, what)
    _refuse_link(st, path, what)
    if not stat.S_ISDIR(st.st_mode):
        raise MalformedSetError(f"The {what} ({path}) is not a folder.")


def read_regular(path: Path, what: str, limit: int | None = None) -> bytes:
    """The bytes of a regular file that is not a link, read through the very file checked."""
    st = _lstat(path, what)
    _refuse_link(st, path, what)
    if not stat.S_ISREG(st.st_mode):
        raise MalformedSetError(f"The {what} ({path.name}) in {path.parent} is not a regular file.")
    if limit is not None and st.st_size > limit:
        raise MalformedSetError(f"The {what} ({path.name}) is {st.st_size} bytes, more than the {limit} allowed.")
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _BINARY)
    except OSError as exc:
        if _NOFOLLOW and exc.errno == errno.ELOOP:  # ELOOP: it became a link after the check
            raise SymlinkError(f"The {what} ({path}) is a symbolic link; an exclusion set must not contain links.") from None
        raise UnreadableFileError(f"The {what} ({path.name}) in {path.parent} cannot be read ({exc.strerror}).") from None
    try:
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(opened.st_mode):
            raise MalformedSetError(f"The {what} ({path.name}) was replaced while it was being read: try again.")
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise UnreadableFileError(f"The {what} ({path.name}) in {path.parent} cannot be read ({exc.strerror}).") from None
    finally:
        os.close(fd)


def current_generation(directory: Path) -> Path:
    directory = Path(directory)
    if not os.path.lexists(directory):
        raise MissingFileError(f"The exclusion folder {directory} does not exist.")
    check_folder(directory, "exclusion folder")
    try:
        name = read_regular(directory / POINTER_FILE, f"{POINTER_FILE} file", MAX_POINTER_BYTES)
    except MissingFileError:
        raise MissingFileError(
            f"The exclusion folder {directory} has no {POINTER_FILE} file: no exclusion set has been exported there."
        ) from None
    try:
        text = name.decode("ascii")
    except UnicodeDecodeError:
        text = ""
    if not text.endswith("\n") or not GENERATION_RE.fullmatch(text[:-1]):
        raise MalformedSetError(f"The {POINTER_FILE} file in {directory} does not name an export generation.")
    return directory / text[:-1]


# ---- reading a set -----------------------------------------------------------------------------

def _consumer_settings(practice_ods: object, state_path: object) -> tuple[str, Path]:
    """Both are required: without them another practice's set, or a rollback, would be accepted."""
    if not isinstance(practice_ods, str) or not practice_ods.strip():
        raise ConsumerSetupError("The consumer must say which practice it is (the practice's ODS code): "
                                 "a set for another practice would otherwise be accepted.")
    try:
        practice = ods.validate(practice_ods)
    except ValidationError:
        raise ConsumerSetupError("The practice given to the consumer is not an ODS code (one letter and five "
                                 "digits).") from None
    if state_path is None or (isinstance(state_path, str) and not state_path.strip()):
        raise ConsumerSetupError("The consumer must name its state file (the highest revision it has used): "
                                 "an older set put back would otherwise be accepted.")
    return practice, Path(state_path)


def read_export(
    directory: Path,
    public_key: Ed25519PublicKey,
    *,
    practice_ods: str,
    state_path: Path,
    now: datetime | None = None,
) -> ExclusionSet:
    """Verify and return the current set in ``directory``; raise ExclusionSetError on any doubt."""
    practice, state_file = _consumer_settings(practice_ods, state_path)
    gen = current_generation(directory)
    try:
        return read_generation(gen, public_key, practice_ods=practice, state_path=state_file, now=now)
    except MissingFileError:
        # The writer may have pruned this generation just after we read the pointer: look once more.
        again = current_generation(directory)
        if again == gen:
            raise
        return read_generation(again, public_key, practice_ods=practice, state_path=state_file, now=now)


def read_generation(
    gen: Path,
    public_key: Ed25519PublicKey,
    *,
    practice_ods: str,
    state_path: Path,
    now: datetime | None = None,
) -> ExclusionSet:
    """One generation folder, every consumer rule applied (the practice and state are required)."""
    practice, state_file = _consumer_settings(practice_ods, state_path)
    exset = verify_generation(gen, public_key, practice_ods=practice, now=now)
    state.check_not_rolled_back(state_file, exset.manifest)
    return exset


def verify_generation(gen: Path, public_key: Ed25519PublicKey, *, practice_ods: str,
                      now: datetime | None = None) -> ExclusionSet:
    """Every rule except the consumer's own rollback state."""
    manifest, list_bytes = _signed_list(gen, public_key, practice_ods, now)
    rows = parse_rows(list_bytes)
    if len(rows) != manifest.row_count:
        raise CountMismatchError(f"The list has {len(rows)} rows but the signed manifest says {manifest.row_count}.")
    numbers = frozenset(r.nhs_number for r in rows)
    return ExclusionSet(manifest=manifest, rows=tuple(rows), generation=gen, nhs_numbers=numbers)


def verify_written(gen: Path, public_key: Ed25519PublicKey, *, practice_ods: str, now: datetime) -> Manifest:
    """The writer's re-read of what it wrote: every rule verify_generation applies (it has no
    consumer state; it refuses to move a folder backwards under its lock instead), every row
    checked, but no row objects built: it needs the signed manifest only (issue 13)."""
    manifest, list_bytes = _signed_list(gen, public_key, practice_ods, now)
    count = count_rows(list_bytes)
    if count != manifest.row_count:
        raise CountMismatchError(f"The list has {count} rows but the signed manifest says {manifest.row_count}.")
    return manifest


def _signed_list(gen: Path, public_key: Ed25519PublicKey, practice_ods: str,
                 now: datetime | None) -> tuple[Manifest, bytes]:
    """The verified manifest and the list's bytes, their hash checked against it: every rule but the rows'."""
    check_folder(gen, "generation folder")
    try:
        entries = set(os.listdir(gen))
    except OSError as exc:
        raise UnreadableFileError(f"The generation folder {gen} cannot be listed ({exc.strerror}).") from None
    missing = sorted(SET_FILES - entries)
    if missing:
        raise MissingFileError(f"The {missing[0]} file is missing from {gen}.")
    if entries - SET_FILES:
        raise MalformedSetError(f"The generation folder {gen.name} holds file(s) the format does not define: "
                                f"{', '.join(sorted(entries - SET_FILES))}.")
    manifest_bytes = read_regular(gen / MANIFEST_FILE, "manifest", MAX_MANIFEST_BYTES)
    signature = read_regular(gen / SIGNATURE_FILE, "manifest signature", MAX_SIGNATURE_BYTES)
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
    if manifest.signing_key_id != signing.key_id(public_key):
        raise BadSignatureError("The manifest's signing_key_id does not name the public key it verifies with.")
    if not generation_matches(gen.name, manifest):
        raise MalformedSetError(f"The generation folder's name {gen.name} does not carry the signed manifest's "
                                "revision and time: the set was moved or renamed.")
    if manifest.practice_ods != practice_ods:
        raise WrongPracticeError(f"The exclusion set is for practice {manifest.practice_ods}, not {practice_ods}.")
    now = datetime.now(timezone.utc) if now is None else now
    if now >= manifest.valid_until:
        raise ExpiredError(
            f"The exclusion set expired at {format_ts(manifest.valid_until)} (generated {format_ts(manifest.generated_at)}): export a new one."
        )
    if now - manifest.generated_at >= MAX_VALIDITY:
        raise ExpiredError(f"The exclusion set was generated {format_ts(manifest.generated_at)}, more than "
                           f"{MAX_VALIDITY.days} days ago (the format's maximum validity): export a new one.")
    if manifest.generated_at > now + CLOCK_SKEW:
        raise NotYetValidError(
            f"The exclusion set says it was generated at {format_ts(manifest.generated_at)}, later than now "
            f"({format_ts(now)}): check the clocks."
        )

    list_bytes = read_regular(gen / LIST_FILE, "list file")
    if sha256_hex(list_bytes) != manifest.list_sha256:
        raise HashMismatchError("The list file's SHA-256 does not match the signed manifest: the list was altered or truncated.")
    return manifest, list_bytes


def _claimed_key_id(manifest_bytes: bytes) -> str | None:
    try:
        value = json.loads(manifest_bytes).get("signing_key_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None
