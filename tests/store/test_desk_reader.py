"""The desk's read-only connection: searches never wait for a task holding the register's
connection, see only committed data, cannot write, and close with the register."""

import threading
import time

import pytest

from gp_optout_desktop.services import patients
from gp_optout_desktop.store import readers
from gp_optout_desktop.store.errors import StoreError


def test_search_does_not_wait_for_a_task_holding_the_register(manager, add_patient):
    add_patient(manager, surname="Committed")
    holding, release = threading.Event(), threading.Event()

    def long_task():  # what a backup or an import did: the register's lock held for the whole task
        with manager.register.transaction() as conn:
            conn.execute("INSERT INTO meta(key, value) VALUES ('bench_hold', '1')")
            holding.set()
            release.wait(10)

    task = threading.Thread(target=long_task)
    task.start()
    try:
        assert holding.wait(10)
        start = time.perf_counter()
        rows = patients.find(manager, "Commit")
        took = time.perf_counter() - start
        assert [r.name for r in rows] == ["COMMITTED, Alex"]
        assert took < 2.0, f"the search waited {took:.1f} s for the task"
    finally:
        release.set()
        task.join(10)


def test_search_sees_only_committed_rows(manager, add_patient):
    add_patient(manager, surname="Before")
    with manager.register.transaction() as conn:
        conn.execute("UPDATE patients SET surname = 'Uncommitted', surname_key = 'uncommitted'")
        assert patients.find(manager, "Uncommitted") == []
        assert [r.name for r in patients.find(manager, "Before")] == ["BEFORE, Alex"]
    assert [r.name for r in patients.find(manager, "Uncommitted")] == ["UNCOMMITTED, Alex"]


def test_the_desk_connection_cannot_write(manager):
    with pytest.raises(Exception, match="readonly|read-only|query_only|attempt to write"):
        with readers.desk_reader(manager.register).reading() as conn:
            conn.execute("INSERT INTO meta(key, value) VALUES ('x', '1')")


def test_the_desk_connection_closes_with_the_register(manager, add_patient):
    add_patient(manager, surname="Closing")
    patients.find(manager, "Clos")
    reader = readers.desk_reader(manager.register)
    assert reader.conn is not None
    manager.lock()
    assert reader.conn is None and getattr(manager.register, "_desk_reader", None) is None
    with pytest.raises(StoreError, match="locked"):
        readers.desk_reader(manager.register)


def test_search_works_after_a_rekey(manager, add_patient, register_dir):
    from gp_optout_desktop.services import session as session_service, users

    add_patient(manager, surname="Rekeyed")
    assert patients.find(manager, "Rekey")  # the desk connection is open with the old key
    old = readers.desk_reader(manager.register)
    users.rekey(manager, "pm-password-1")
    assert [r.name for r in patients.find(manager, "Rekey")] == ["REKEYED, Alex"]
    assert readers.desk_reader(manager.register) is not old and old.conn is None
    manager.lock()
    again = session_service.unlock(register_dir, "pm", "pm-password-1")
    try:
        assert [r.name for r in patients.find(again, "Rekey")] == ["REKEYED, Alex"]
    finally:
        again.lock()
