"""Network shares refused, judged by where the path really leads (issue 11, finding 8).
The mount table is input, so each test feeds its own /proc/mounts text."""

from __future__ import annotations

from pathlib import Path

import pytest

from gp_optout_desktop.services import session as session_service
from gp_optout_desktop.store import location
from gp_optout_desktop.store.errors import UnsafeLocation

LOCAL = "/dev/sda1 / ext4 rw 0 0\ntmpfs /tmp tmpfs rw 0 0\n"


@pytest.mark.parametrize("fstype", [
    "vboxsf", "vmhgfs", "prl_fs", "9p", "sshfs", "davfs", "smb", "smb3", "cifs", "nfs", "nfs4", "afs", "ceph",
    "glusterfs", "fuse.sshfs", "fuse.gvfsd-fuse", "fuse.smbnetfs", "fuse.vmhgfs-fuse", "fuse.rclone", "fuse.s3fs",
    "fuse.davfs2", "fuse.glusterfs", "fuse.ceph-fuse",
])
def test_every_network_type_is_refused(fstype):
    mounts = LOCAL + f"share /mnt/share {fstype} rw 0 0\n"
    with pytest.raises(UnsafeLocation, match="network"):
        location.check_local(Path("/mnt/share/register"), mounts, env={})
    # Never overridable, even when named in the override.
    with pytest.raises(UnsafeLocation):
        location.check_local(Path("/mnt/share/register"), mounts, env={location.OVERRIDE_ENV: fstype})


def test_a_symlink_into_a_network_mount_is_judged_by_its_target(tmp_path):
    share = tmp_path / "nfs-share"
    share.mkdir()
    link = tmp_path / "home" / "register-link"
    link.parent.mkdir()
    link.symlink_to(share)
    mounts = LOCAL + f"server:/export {share} nfs4 rw 0 0\n"
    with pytest.raises(UnsafeLocation, match="nfs4"):
        location.check_local(link / "register", mounts, env={})
    with pytest.raises(UnsafeLocation, match="nfs4"):
        location.check_local(link, mounts, env={})


def test_an_unknown_fuse_type_is_refused_naming_the_override(monkeypatch):
    mounts = LOCAL + "encrypted /home/pm/vault fuse.gocryptfs rw 0 0\nx /mnt/raw fuse rw 0 0\n"
    with pytest.raises(UnsafeLocation, match=location.OVERRIDE_ENV) as refused:
        location.check_local(Path("/home/pm/vault/register"), mounts, env={})
    assert "fuse.gocryptfs" in str(refused.value)
    with pytest.raises(UnsafeLocation, match="FUSE"):
        location.check_local(Path("/mnt/raw/register"), mounts, env={})
    location.check_local(Path("/home/pm/vault/register"), mounts, env={location.OVERRIDE_ENV: "fuse.other, fuse.gocryptfs"})
    monkeypatch.setenv(location.OVERRIDE_ENV, "fuse.gocryptfs")
    location.check_local(Path("/home/pm/vault/register"), mounts)  # the real environment is read by default


def test_local_disks_and_local_fuse_are_accepted():
    mounts = LOCAL + "/dev/sdb1 /media/usb fuseblk rw 0 0\n/dev/sdc1 /data ext4 rw 0 0\n"
    for path in ("/home/pm/register", "/media/usb/register", "/data/register"):
        location.check_local(Path(path), mounts, env={})


def test_mount_points_with_escaped_spaces_and_later_mounts_on_top():
    mounts = LOCAL + "//fs/share /mnt/GP\\040Share cifs rw 0 0\n//fs/a /srv/reg cifs rw 0 0\n/dev/sdd1 /srv/reg ext4 rw 0 0\n"
    with pytest.raises(UnsafeLocation, match="cifs"):
        location.check_local(Path("/mnt/GP Share/register"), mounts, env={})
    location.check_local(Path("/srv/reg/register"), mounts, env={})  # the local disk mounted over the share


def test_opening_a_register_through_a_symlink_to_a_network_mount_is_refused(manager, register_dir, tmp_path, monkeypatch):
    """The real unlock path reads the real /proc/mounts: point the check at a fake table via its input."""
    manager.lock()
    link = tmp_path / "via-link"
    link.symlink_to(register_dir)
    real = location.network_reason
    fake_mounts = LOCAL + f"server:/export {register_dir} nfs rw 0 0\n"
    monkeypatch.setattr(location, "network_reason", lambda path, mounts_text=None, env=None: real(path, fake_mounts, env))
    with pytest.raises(UnsafeLocation, match="network share"):
        session_service.unlock(link, "pm", "pm-password-1")
