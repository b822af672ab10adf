"""Refuse registers on network shares: SQLite's locking and WAL do not work there.

The path is resolved with ``realpath`` first, so a symlink into a network mount is judged
by where it leads. A FUSE file system of a type not known to be local is refused too (it
may be sshfs, a cloud drive, ...), unless the practice names that type in the documented
override GP_OPTOUT_ALLOW_FUSE (comma-separated types, e.g. ``fuse.gocryptfs``) after
checking it is on this computer's own disk. Known network types can never be overridden.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from ..problem_log import log_problem

log = logging.getLogger(__name__)

OVERRIDE_ENV = "GP_OPTOUT_ALLOW_FUSE"

NETWORK_FS = {
    "nfs", "nfs4", "nfsd", "cifs", "smb", "smb2", "smb3", "smbfs", "afs", "openafs", "ncpfs", "9p", "ceph",
    "glusterfs", "lustre", "gpfs", "davfs", "coda", "ocfs2", "gfs2", "beegfs", "orangefs", "pvfs2", "cvfs",
    "vboxsf", "vmhgfs", "prl_fs", "virtiofs", "sshfs", "afpfs", "ftpfs", "curlftpfs", "s3fs",
}
# FUSE types that reach another computer (the part after "fuse." or "fuseblk.").
NETWORK_FUSE = {
    "sshfs", "gvfsd-fuse", "smbnetfs", "glusterfs", "s3fs", "rclone", "davfs", "davfs2", "vmhgfs-fuse",
    "ceph", "ceph-fuse", "cephfs", "gcsfuse", "blobfuse", "blobfuse2", "goofys", "curlftpfs", "afpfs",
    "onedriver", "google-drive-ocamlfuse", "dropbox", "mega", "nfs", "smb", "cifs", "9p", "juicefs", "seaweedfs",
    "moosefs", "mfs", "lizardfs", "sftpman", "httpfs", "wdfs", "fusesmb", "keybase", "ipfs",
}
# FUSE types known to sit on this computer's own disk.
LOCAL_FUSE = {"fuseblk", "fuse.ntfs-3g", "fuse.ntfs3g", "fuse.exfat", "fuse.exfat-fuse"}

MESSAGE = (
    "The register cannot be kept on a network share ({where}): SQLite's file locking does not work "
    "there and the register could be damaged. Keep it on this computer's own disk and back it up."
)
FUSE_MESSAGE = (
    "The register folder is on a FUSE file system of type '{fstype}', which may be a network or cloud drive: "
    "SQLite's file locking may not work there and the register could be damaged. Keep it on this computer's own "
    "disk. If this file system is on this computer's own disk, set the environment variable "
    f"{OVERRIDE_ENV}={{fstype}} (see README, 'Where the register lives') and try again."
)


def _unescape(field: str) -> str:
    """/proc/mounts writes space, tab, newline and backslash as octal escapes (\\040 ...)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mounts(mounts_text: str) -> list[tuple[str, str]]:
    """(mount point, file system type) for each line of /proc/mounts text."""
    mounts = []
    for line in mounts_text.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            mounts.append((_unescape(parts[1]), parts[2]))
    return mounts


def _mount_type(path: Path, mounts_text: str) -> str | None:
    best, best_type = "", None
    target = str(path)
    for mount_point, fstype in parse_mounts(mounts_text):
        if (target == mount_point or target.startswith(mount_point.rstrip("/") + "/")) and len(mount_point) >= len(best):
            best, best_type = mount_point, fstype  # later lines win: they are mounted over earlier ones
    return best_type


def _allowed_fuse(env: dict | None) -> set[str]:
    raw = (env if env is not None else os.environ).get(OVERRIDE_ENV, "")
    return {part.strip() for part in raw.split(",") if part.strip()}


def _is_network(fstype: str) -> bool:
    base = fstype.split(".", 1)[1] if fstype.startswith(("fuse.", "fuseblk.")) else fstype
    return (fstype in NETWORK_FS or base in NETWORK_FS or base in NETWORK_FUSE
            or fstype.startswith(("nfs", "smb", "cifs")) or base.startswith(("nfs", "smb", "cifs", "sshfs")))


def classify(fstype: str | None, env: dict | None = None) -> str | None:
    """'network', 'fuse' (unknown FUSE, not overridden) or None (local) for a mount type."""
    if not fstype:
        return None
    if _is_network(fstype):
        return "network"
    is_fuse = fstype == "fuse" or fstype.startswith(("fuse.", "fuseblk."))
    if is_fuse and fstype not in LOCAL_FUSE and fstype not in _allowed_fuse(env):
        return "fuse"
    return None


def network_reason(path: Path, mounts_text: str | None = None, env: dict | None = None) -> str | None:
    """Why ``path`` is unsafe for the register, as a full sentence, or None.

    ``mounts_text`` is /proc/mounts (the mount table is input: tests feed their own)."""
    raw = str(path)
    if raw.startswith("\\\\") or raw.startswith("//"):
        return MESSAGE.format(where="a UNC path")
    resolved = Path(os.path.realpath(path))  # a symlink into a network mount is judged by its target
    if os.name == "nt":  # pragma: no cover - exercised on Windows workstations
        import ctypes

        if str(resolved).startswith("\\\\"):
            return MESSAGE.format(where="a UNC path")
        drive = os.path.splitdrive(str(resolved))[0] + "\\"
        if ctypes.windll.kernel32.GetDriveTypeW(drive) == 4:  # DRIVE_REMOTE
            return MESSAGE.format(where=f"network drive {drive}")
        return None
    if mounts_text is None:
        try:
            mounts_text = Path("/proc/mounts").read_text()
        except OSError as exc:  # why: no /proc (a container, another Unix): the check cannot run, so say so in the log
            log_problem(log, "/proc/mounts could not be read: the network-folder check was skipped", exc)
            return None
    fstype = _mount_type(resolved, mounts_text)
    kind = classify(fstype, env)
    if kind == "network":
        return MESSAGE.format(where=f"a {fstype} network mount")
    if kind == "fuse":
        return FUSE_MESSAGE.format(fstype=fstype)
    return None


def check_local(path: Path, mounts_text: str | None = None, env: dict | None = None) -> None:
    from .errors import UnsafeLocation

    reason = network_reason(path, mounts_text, env)
    if reason:
        raise UnsafeLocation(reason)
