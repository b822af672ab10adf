"""The consumer's memory of the highest register revision it has accepted, per practice.

An attacker (or a restored old backup of the export folder) could put back an older,
correctly signed set in which a patient had not yet objected. Refusing any revision lower
than one already accepted stops that. Deleting the state file is the deliberate way to
accept an older set (e.g. after the register itself was restored from a backup).
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import MalformedSetError, RevisionRollbackError, StateFileError
from .format import Manifest, format_ts, strict_json
from .fsutil import replace_file_atomically

STATE_FORMAT = "gp-optout-exclusion-state"


def _load(path: Path) -> dict:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {"format": STATE_FORMAT, "version": 1, "practices": {}}
    except OSError as exc:
        raise StateFileError(f"The state file {path} cannot be read ({exc.strerror}).") from None
    try:
        obj = strict_json(data, "state file")
        if obj.get("format") != STATE_FORMAT or obj.get("version") != 1 or not isinstance(obj.get("practices"), dict):
            raise ValueError
        for entry in obj["practices"].values():
            revision = entry.get("highest_revision")
            if type(revision) is not int or revision < 0:
                raise ValueError
    except (ValueError, AttributeError, MalformedSetError):
        raise StateFileError(
            f"The state file {path} is not a valid record of revisions seen; fix or delete it deliberately."
        ) from None
    return obj


def highest_seen(path: Path, practice_ods: str) -> int | None:
    entry = _load(Path(path))["practices"].get(practice_ods)
    return None if entry is None else entry["highest_revision"]


def check_not_rolled_back(path: Path, manifest: Manifest) -> None:
    seen = highest_seen(path, manifest.practice_ods)
    if seen is not None and manifest.register_revision < seen:
        raise RevisionRollbackError(
            f"The exclusion set is register revision {manifest.register_revision}, older than revision {seen} "
            "already used here: an old set may have been put back."
        )


def record_seen(path: Path, manifest: Manifest) -> None:
    """Remember this set's revision if it is the highest so far (atomic replace of the state file)."""
    path = Path(path)
    obj = _load(path)
    entry = obj["practices"].get(manifest.practice_ods)
    if entry is not None and entry["highest_revision"] >= manifest.register_revision:
        return
    obj["practices"][manifest.practice_ods] = {
        "highest_revision": manifest.register_revision,
        "generated_at": format_ts(manifest.generated_at),
        "list_sha256": manifest.list_sha256,
    }
    replace_file_atomically(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode("utf-8"))
