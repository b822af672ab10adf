"""Write an exclusion set so that a consumer only ever sees a complete, verified set.

Layout (see docs/exclusion-file.md, "Folder layout and atomic replacement"):

    DIR/CURRENT                 one line naming the current generation
    DIR/g<revision>-<time>-<id>/exclusions.csv, manifest.json, manifest.sig

A new set is written into a hidden temp folder, every file and the folder fsynced, the
folder renamed to its generation name, re-read and verified with the reader, and only
then is CURRENT replaced (one os.replace: the commit point). Until that rename the
previous generation and CURRENT are untouched, so a failure at any earlier step leaves
the previous set byte-identical and current. Renaming the files one by one could never
give that: between two renames a consumer would see a new list with an old manifest.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..domain.exclusion_rules import MODES, ExclusionRow
from . import signing
from .errors import ExclusionSetError, ExportError
from .format import (
    GENERATION_RE,
    LIST_FILE,
    MANIFEST_FILE,
    MAX_VALIDITY,
    POINTER_FILE,
    SIGNATURE_FILE,
    Manifest,
    check_rows,
    generation_name,
    serialise_manifest,
    serialise_rows,
    sha256_hex,
    utc_seconds,
)
from .export_lock import export_lock
from .fsutil import fsync_dir, temp_name, write_durable
from .reader import current_generation, verify_written
from ..problem_log import log_problem

log = logging.getLogger(__name__)

DEFAULT_VALIDITY = timedelta(days=7)
STALE_TEMP_SECONDS = 3600


@dataclass(frozen=True)
class ExportResult:
    directory: Path
    generation: Path
    manifest: Manifest
    row_count: int
    list_sha256: str
    paths: dict[str, Path]
    cleanup_problems: tuple[str, ...] = ()


def write_export(
    directory: Path,
    rows: Iterable[ExclusionRow],
    *,
    private_key: Ed25519PrivateKey,
    practice_ods: str,
    register_revision: int,
    mode: str,
    audit_chain_head: str,
    generated_at: datetime | None = None,
    valid_for: timedelta = DEFAULT_VALIDITY,
    objectors_without_nhs_number: int = 0,
    expected_count: int | None = None,
) -> ExportResult:
    """Write, verify and commit a set; raise ExportError (previous set still current) on failure."""
    directory = Path(directory)
    if mode not in MODES:
        raise ExportError(f"Unknown mode {mode!r}.")
    if not timedelta(0) < valid_for <= MAX_VALIDITY:
        raise ExportError(f"Nothing was written: a set is valid for more than 0 and at most {MAX_VALIDITY.days} days "
                          "(consumers refuse anything longer).")
    try:
        ordered = check_rows(rows)
    except ValueError as exc:
        raise ExportError(f"Nothing was written: {exc}.") from None
    if expected_count is not None and len(ordered) != expected_count:
        raise ExportError(f"Nothing was written: {len(ordered)} rows were computed but the register expects {expected_count}.")

    when = utc_seconds(generated_at or datetime.now(timezone.utc))
    list_bytes = serialise_rows(ordered)
    files = {LIST_FILE: list_bytes}
    try:
        manifest = Manifest(
            practice_ods=practice_ods,
            generated_at=when,
            valid_until=when + valid_for,
            register_revision=register_revision,
            mode=mode,
            row_count=len(ordered),
            list_sha256=sha256_hex(list_bytes),
            audit_chain_head=audit_chain_head,
            signing_key_id=signing.key_id(private_key),
            objectors_without_nhs_number=objectors_without_nhs_number,
        )
        manifest_bytes = serialise_manifest(manifest)
    except ValueError as exc:
        raise ExportError(f"Nothing was written: {exc}") from None
    files[MANIFEST_FILE] = manifest_bytes
    files[SIGNATURE_FILE] = signing.sign(private_key, manifest_bytes)

    if os.path.islink(directory):
        raise ExportError(f"Nothing was written: the export folder {directory} is a symbolic link, which every "
                          "consumer refuses. Export to the real folder it points to.")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"The export folder {directory} cannot be created ({exc.strerror}).") from None
    with export_lock(directory):
        return _write_and_commit(directory, files, manifest, len(ordered), private_key, practice_ods, when)


def _write_and_commit(directory: Path, files: dict[str, bytes], manifest: Manifest, count: int,
                      private_key: Ed25519PrivateKey, practice_ods: str, when: datetime) -> ExportResult:
    """Under the folder's export lock: write the generation, verify it, move CURRENT to it."""
    register_revision = manifest.register_revision
    previous = _pointer_or_none(directory)
    if previous is not None and int(previous[1:13]) > register_revision:
        raise ExportError(
            f"This folder already holds a newer exclusion set (register revision {int(previous[1:13])}; this "
            f"register is at {register_revision}), so it was left as it is. Check that this is the right "
            "register and the right folder.")
    gen = directory / generation_name(register_revision, when, secrets.token_hex(4))
    public_key = private_key.public_key()

    # ---- before the commit point: any failure leaves the previous set current -------------
    tmp = temp_name(directory, "gen")
    try:
        tmp.mkdir(mode=0o700)
        if os.name != "nt":
            os.chmod(tmp, 0o700)  # whatever the umask
        for name, data in files.items():
            write_durable(tmp / name, data)
        fsync_dir(tmp)
        os.replace(tmp, gen)
        fsync_dir(directory)
        written = verify_written(gen, public_key, practice_ods=practice_ods, now=when)
        if written.row_count != count or written.list_sha256 != manifest.list_sha256:
            raise ExportError("the re-read set does not match what was written")
        pointer_tmp = temp_name(directory, POINTER_FILE)
        write_durable(pointer_tmp, f"{gen.name}\n".encode("ascii"))
        os.replace(pointer_tmp, directory / POINTER_FILE)  # the commit point
    except (OSError, ExclusionSetError, ExportError) as exc:
        _remove_quietly(tmp)
        _remove_quietly(gen)
        for leftover in directory.glob(f".tmp-{POINTER_FILE}-*"):
            _remove_quietly(leftover)
        raise ExportError(f"The export failed and the previous exclusion set is still the current one: {_reason(exc)}") from exc

    # ---- after the commit point: the new set is current ----------------------------------
    # The reader fully checked these files before the commit; now confirm CURRENT names them and
    # every file still holds exactly the bytes meant (a second full parse would add nothing).
    try:
        fsync_dir(directory)
        if current_generation(directory) != gen:
            raise ExportError("Another export replaced this one while it was being written: export again.")
        changed = [name for name, data in files.items() if (gen / name).read_bytes() != data]
    except (OSError, ExclusionSetError) as exc:
        raise ExportError(f"The new exclusion set is in place but could not be confirmed: {_reason(exc)}") from exc
    if changed:
        raise ExportError(f"The new exclusion set is in place but {', '.join(changed)} re-read differently: export again.")

    problems = _prune(directory, keep={gen.name, previous})
    paths = {name: gen / name for name in files}
    paths[POINTER_FILE] = directory / POINTER_FILE
    return ExportResult(directory, gen, manifest, count, manifest.list_sha256, paths, tuple(problems))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror or exc}{where}"
    return str(exc)


def _pointer_or_none(directory: Path) -> str | None:
    try:
        return current_generation(directory).name
    except ExclusionSetError:
        return None


def _remove_quietly(path: Path) -> None:
    try:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    except OSError as exc:  # why: a failed export's error is the one reported; leftovers are pruned next time
        log_problem(log, "A partly written exclusion generation could not be removed", exc)


def _prune(directory: Path, keep: set) -> list[str]:
    """Delete generations other than the current and the previous (a consumer may still be
    reading the previous one), and temp folders abandoned by a crashed writer over an hour ago."""
    problems = []
    now = time.time()
    try:
        entries = list(directory.iterdir())
    except OSError as exc:
        return [f"could not list {directory}: {exc.strerror}"]
    for entry in entries:
        try:
            stale_temp = entry.name.startswith(".tmp-") and now - entry.stat().st_mtime > STALE_TEMP_SECONDS
            old_gen = GENERATION_RE.fullmatch(entry.name) and entry.name not in keep
            if stale_temp or old_gen:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        except OSError as exc:  # the new set is already committed: a leftover is untidy, not unsafe
            problems.append(f"could not remove {entry.name}: {exc.strerror}")
    return problems
