"""Refuse registers on network shares: SQLite's locking and WAL do not work there."""

from __future__ import annotations

import os
from pathlib import Path

NETWORK_FS = {
    "nfs", "nfs4", "cifs", "smb", "smb2", "smbfs", "smb3", "afs", "ncpfs", "9p", "ceph", "glusterfs",
    "fuse.sshfs", "fuse.glusterfs", "fuse.s3fs", "fuse.rclone", "davfs", "fuse.davfs2", "lustre", "gpfs",
}

MESSAGE = (
    "The register cannot be kept on a network share ({where}): SQLite's file locking does not work "
    "there and the register could be damaged. Keep it on this computer's own disk and back it up."
)


def _mount_type(path: Path, mounts_text: str) -> str | None:
    best, best_type = "", None
    target = str(path)
    for line in mounts_text.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        mount_point = parts[1].replace("\\040", " ")
        if (target == mount_point or target.startswith(mount_point.rstrip("/") + "/")) and len(mount_point) >= len(best):
            best, best_type = mount_point, parts[2]
    return best_type


def network_reason(path: Path, mounts_text: str | None = None) -> str | None:
    """Why ``path`` is on a network share, or None. ``mounts_text`` is /proc/mounts (injectable for tests)."""
    raw = str(path)
    if raw.startswith("\\\\") or raw.startswith("//"):
        return "a UNC path"
    resolved = Path(os.path.abspath(path))
    if os.name == "nt":  # pragma: no cover - exercised on Windows workstations
        import ctypes

        drive = os.path.splitdrive(str(resolved))[0] + "\\"
        if ctypes.windll.kernel32.GetDriveTypeW(drive) == 4:  # DRIVE_REMOTE
            return f"network drive {drive}"
        return None
    if mounts_text is None:
        try:
            mounts_text = Path("/proc/mounts").read_text()
        except OSError:
            return None
    fstype = _mount_type(resolved, mounts_text)
    if fstype and (fstype in NETWORK_FS or fstype.startswith("nfs") or fstype.startswith("smb")):
        return f"a {fstype} network mount"
    return None


def check_local(path: Path, mounts_text: str | None = None) -> None:
    from .errors import UnsafeLocation

    reason = network_reason(path, mounts_text)
    if reason:
        raise UnsafeLocation(MESSAGE.format(where=reason))
