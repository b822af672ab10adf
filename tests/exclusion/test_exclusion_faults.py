"""Fault injection: a write that fails at any step leaves a consumer a complete set.

Each file-system call the writer makes (open, write, fsync, mkdir, replace) is counted in a
clean run; then the export is repeated failing at call k, for every k, once as a single
transient fault and once as a dead disk (every call from k on fails). Before the commit point
the previous set must be byte-identical and still accepted by the reader; after it the new
set must be complete.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

import pytest

from gp_optout_desktop.exclusion import reader as reader_mod
from gp_optout_desktop.exclusion.errors import ExportError
from gp_optout_desktop.exclusion.reader import read_export

from excl_helpers import NHS, NOW, export, make_rows, snapshot, fresh_state

HOOKED = ("open", "write", "fsync", "mkdir", "replace")


class Faults:
    def __init__(self, fail_at: int | None, sticky: bool):
        self.calls = 0
        self.fail_at = fail_at
        self.sticky = sticky
        self.hit = False

    def wrap(self, name, real):
        def hooked(*args, **kwargs):
            self.calls += 1
            if self.fail_at is not None and (self.calls == self.fail_at or (self.sticky and self.calls > self.fail_at)):
                self.hit = True
                raise OSError(errno.EIO, f"injected fault in os.{name}")
            return real(*args, **kwargs)

        return hooked


@contextlib.contextmanager
def injected(monkeypatch, faults: Faults):
    with monkeypatch.context() as m:
        for name in HOOKED:
            m.setattr(os, name, faults.wrap(name, getattr(os, name)))
        yield


def old_generation_files(directory: Path) -> dict[str, bytes]:
    gen = reader_mod.current_generation(directory)
    return {"CURRENT": (directory / "CURRENT").read_bytes(), **{f"{gen.name}/{k}": v for k, v in snapshot(gen).items()}}


def _count_calls(tmp_path, key, monkeypatch) -> int:
    probe = tmp_path / "probe"
    export(probe, key, revision=1)
    counter = Faults(None, False)
    with injected(monkeypatch, counter):
        export(probe, key, make_rows(NHS[:20]), revision=2)
    return counter.calls


@pytest.mark.slow
@pytest.mark.parametrize("sticky", [False, True], ids=["transient", "disk-dies"])
def test_failure_at_every_step_leaves_a_complete_set(tmp_path, key, monkeypatch, sticky):
    total = _count_calls(tmp_path, key, monkeypatch)
    assert total >= 10  # the hooks really see the writer's steps
    outcomes = {"old": 0, "new": 0}
    for k in range(1, total + 1):
        directory = tmp_path / f"k{k}"
        export(directory, key, revision=1)
        before = old_generation_files(directory)
        faults = Faults(k, sticky)
        error = None
        with injected(monkeypatch, faults):
            try:
                export(directory, key, make_rows(NHS[:20]), revision=2)
            except ExportError as exc:
                error = str(exc)
        assert faults.hit, f"call {k} was never reached"
        got = read_export(directory, key.public_key(), practice_ods="F84003", state_path=fresh_state(), now=NOW)  # a consumer always gets a whole set
        if got.manifest.register_revision == 1:
            outcomes["old"] += 1
            assert error and "previous exclusion set is still the current one" in error
            assert old_generation_files(directory) == before, f"fault at call {k} changed the previous set"
            assert len(got.rows) == 10
            if not sticky:  # the clean-up ran: no half-written generation or temp file is left
                assert sorted(p.name for p in directory.iterdir()) == sorted(["CURRENT", got.generation.name])
        else:
            outcomes["new"] += 1
            assert len(got.rows) == 20 and got.manifest.row_count == 20
            assert error is None or "in place" in error
    # After the commit point only the folder fsync, the re-read of CURRENT and the lock's release remain.
    assert outcomes["old"] >= total - 5 and outcomes["new"] >= 1


def test_verification_failure_before_commit_keeps_previous_set(tmp_path, key, monkeypatch):
    """If the re-read disagrees with what was written (e.g. a disk that returns other bytes), nothing is committed."""
    export(tmp_path, key, revision=1)
    before = old_generation_files(tmp_path)
    real = reader_mod.read_regular

    def corrupting(path, what, limit=None):
        data = real(path, what, limit)
        return data[:-20] + b"\n" if path.name == "exclusions.csv" else data

    monkeypatch.setattr(reader_mod, "read_regular", corrupting)
    with pytest.raises(ExportError, match="still the current one: The list file's SHA-256 does not match"):
        export(tmp_path, key, make_rows(NHS[:20]), revision=2)
    monkeypatch.undo()
    assert old_generation_files(tmp_path) == before
    assert read_export(tmp_path, key.public_key(), practice_ods="F84003", state_path=fresh_state(), now=NOW).manifest.register_revision == 1
