"""Printing letters on a server costs a fixed number of round trips per batch, not a few per
letter (issue 15 gap: services/letters.py through the seam, store/server/desk_store.py): the
statements a print run sends are counted at psycopg's cursor (each execute or executemany is
one exchange with the server; executemany's rows go in one pipeline). On both engines the
batch prints, audits and marks exactly as before (tests/services/test_letters_both_engines.py
compares them step by step)."""

from __future__ import annotations

import psycopg
import pytest

from gp_optout_desktop.services import letters, objections


class Statements:
    """Counts every execute and executemany any psycopg cursor sends while installed."""

    def __init__(self, monkeypatch):
        self.count = 0
        for name in ("execute", "executemany"):
            real = getattr(psycopg.Cursor, name)

            def counted(cur, *args, _real=real, **kw):
                self.count += 1
                return _real(cur, *args, **kw)

            monkeypatch.setattr(psycopg.Cursor, name, counted)


def _queue(backend, add_patient, n: int) -> None:
    """``n`` letters of the three shapes a queue holds: an acknowledgement (code not yet
    confirmed: it promises a confirmation), a confirmation (confirmed before printing), and a
    form for an adult with a dependant (two people on one letter)."""
    pm = backend.manager
    made = 0
    while made < n:
        shape = made % 3
        pid = add_patient(pm)
        if shape == 2:
            child = add_patient(pm, forenames="Kit", dob="2015-02-03")
            objections.record(pm, pid, dependants=[child])
        else:
            objections.record(pm, pid)
            if shape == 1:
                backend.confirm(pid)
        made += 1


def _print_counted(backend, monkeypatch, out) -> tuple[int, int, float]:
    """(letters printed, statements sent, seconds) for one print run of the whole queue."""
    import time

    waiting = len(letters.pending(backend.manager))
    statements = Statements(monkeypatch)
    started = time.perf_counter()
    change = letters.print_batch(backend.manager, out)
    took = time.perf_counter() - started
    monkeypatch.undo()
    assert change.summary.startswith(f"Printed {waiting} letter")
    return waiting, statements.count, took


@pytest.mark.server
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_printing_costs_the_same_round_trips_whatever_the_number_of_letters(backend, add_patient, tmp_path,
                                                                             monkeypatch):
    _queue(backend, add_patient, 9)
    small, small_trips, small_s = _print_counted(backend, monkeypatch, tmp_path / "small.pdf")
    _queue(backend, add_patient, 200)
    large, large_trips, large_s = _print_counted(backend, monkeypatch, tmp_path / "large.pdf")
    print(f"\nprint_batch on PostgreSQL: {small} letters {small_trips} statements {small_s:.2f} s; "
          f"{large} letters {large_trips} statements {large_s:.2f} s")
    printed = [r for r in backend.audit_rows() if r[3] == "letter.print"]
    assert len(printed) == small + large  # one audit entry per letter, as before
    assert large_trips == small_trips, f"round trips grew with the batch: {small_trips} for {small}, {large_trips} for {large}"
    # Each confirmation promised went to the printed letter's own form and patient (the batch's
    # new ids mapped back in order).
    rows = {r[0]: r[1:] for r in backend.manager.desk.conn.execute("SELECT id, patient_id, form_id FROM letters")}
    queued = [r for r in backend.audit_rows() if r[3] == "letter.queue" and "after=" in r[6]]
    assert len(queued) == (small + large) * 2 // 3
    for r in queued:
        detail = dict(part.split("=") for part in r[6].split())
        assert rows[int(detail["letter"])] == rows[int(detail["after"])]


def test_a_failure_while_marking_a_batch_marks_nothing_and_removes_the_pdf(backend, add_patient, tmp_path,
                                                                          monkeypatch):
    """The batch's marks are one transaction with their audit entries on either engine: a
    failure after the marks are written (here: queueing the promised confirmations) leaves every
    letter waiting, no entry, and no PDF to post."""
    _queue(backend, add_patient, 6)
    before = [p.letter_id for p in letters.pending(backend.manager)]
    entries = len(backend.audit_rows())
    store_class = type(_store_of(backend))

    def fails(self, *args, **kw):
        raise OSError("the disk went away")

    monkeypatch.setattr(store_class, "became_acknowledgements", fails)
    with pytest.raises(OSError):
        letters.print_batch(backend.manager, tmp_path / "batch.pdf", split_dir=tmp_path / "split")
    monkeypatch.undo()
    assert not (tmp_path / "batch.pdf").exists() and not list((tmp_path / "split").glob("*.pdf"))
    assert [p.letter_id for p in letters.pending(backend.manager)] == before
    assert len(backend.audit_rows()) == entries
    letters.print_batch(backend.manager, tmp_path / "batch.pdf")  # the same batch, again: now it goes out
    assert not set(before) & {p.letter_id for p in letters.pending(backend.manager)}
    assert (tmp_path / "batch.pdf").exists()


def _store_of(backend):
    if backend.name == "sqlcipher":
        from gp_optout_desktop.store.backend import FileStore

        return FileStore.__new__(FileStore)
    from gp_optout_desktop.store.server.desk_store import ServerStore

    return ServerStore.__new__(ServerStore)

