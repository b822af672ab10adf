import pytest

from gp_optout_desktop.letters import atomic


@pytest.mark.parametrize("syncfs", [True, False])
def test_write_many_writes_whole_files_and_leaves_no_temp_files(tmp_path, monkeypatch, syncfs):
    if syncfs and not atomic._CAN_SYNCFS:
        pytest.skip("syncfs is Linux only")
    monkeypatch.setattr(atomic, "_CAN_SYNCFS", syncfs)
    (tmp_path / "0002-L-2.pdf").write_bytes(b"old")
    files = [(f"{i:04d}-L-{i}.pdf", bytes([i]) * (1000 + i)) for i in range(1, 6)]
    paths = atomic.write_atomic_many(tmp_path, files)
    assert [p.name for p in paths] == [name for name, _ in files]
    for (name, data), path in zip(files, paths):
        assert path.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == [name for name, _ in files]


def test_write_many_failure_leaves_no_temp_files_and_no_partial_names(tmp_path):
    files = [("0001-L-1.pdf", b"one"), ("missing/0002-L-2.pdf", b"two")]
    with pytest.raises(OSError):
        atomic.write_atomic_many(tmp_path, files)
    assert list(tmp_path.iterdir()) == []
