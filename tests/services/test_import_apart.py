"""The CSV import's reading, checking and matching in a process of its own (child_task, ADR 0014
addendum 5, hazard H-80), through real encrypted registers: the child's plan, imported in the
app on the one write path, gives what the in-process import gives (the rows written, the
summary, the audit entries, the refusals by row number); a child killed halfway is said in
words and nothing is written; a plan overtaken by another write is made again, then in the
write itself; when no process can be started the import runs in the app."""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone

import pytest

from gp_optout_desktop import child_task
from gp_optout_desktop.domain.import_rows import ImportRefused
from gp_optout_desktop.domain.nhs_number import synthetic_range
from gp_optout_desktop.services import importer, patients, setup

from tests.services.test_import import GOOD, N, csv_text

NOW = datetime(2025, 3, 20, 12, tzinfo=timezone.utc)
CLASH = csv_text(
    f"{N[4]},New,Nina,1990-01-01,LS1 4AP,,9Nu0,2020-01-01",
    f"{N[3]},Known,Pat,1961-06-06,M1 1AE,,9Nu0,2019-01-01",   # another date of birth under a known number
    f"{N[4]},New,Nina,1990-01-02,LS1 4AP,,9Nu4,2012-01-01",   # and under one number in the file
)
BAD_CODE = csv_text(f"{N[5]},Bad,Code,1990-01-01,LS1 4AP,,XXXXX,2020-01-01")  # not a code the import knows


def _ready(session):
    """A register as both sides of a comparison start it: one known patient, a fixed clock."""
    session.clock = lambda: NOW
    patients.add(session, surname="Known", forenames="Pat", dob="1960-06-06", postcode_raw="M1 1AE", nhs=N[3])
    return session


@pytest.fixture
def twin(tmp_path):
    """A second register made as the ``manager`` fixture makes its own: the in-process side."""
    practice = setup.practice_details(name="Test Surgery", address=["1 Test Road", "Testtown"], phone="01632 960001",
                                      email="surgery@example.invalid")
    session, _recovery = setup.create_register(tmp_path / "twin", ods="F84003", practice=practice, user="pm",
                                               password="pm-password-1")
    yield session
    if session.register.is_open:
        session.lock()


def _seq(session) -> int:
    return session.register.conn.execute("SELECT coalesce(max(seq), 0) FROM audit").fetchone()[0]


def _audit_since(session, seq: int) -> list[tuple]:
    """Each entry written since ``seq``: who, what, which patient, the detail, and the digest of the
    rows its transaction wrote (equal digests: equal rows, column by column)."""
    return session.register.conn.execute(
        "SELECT user, role, action, patient, outcome, detail, perm, rows FROM audit WHERE seq > ? ORDER BY seq",
        (seq,)).fetchall()


def _view(session, nhs):
    v = patients.view(session, patients.by_nhs(session, nhs).patient_id)
    p = v.patient
    return ((p.patient_id, p.surname, p.forenames, p.dob, p.postcode, p.address),
            {k: s.active for k, s in v.statuses.items()},
            [(e.event_id, e.kind, e.action, e.effective, e.received, e.via, e.coded_by, e.coding_state,
              e.confirmed_by) for e in v.history])


def _outcome(session, work) -> tuple:
    """What ``work`` returned or refused, the audit entries it wrote and the revision's move."""
    seq, revision = _seq(session), session.revision()
    try:
        got = work()
        answer = ("ok", getattr(got, "summary", got), getattr(got, "data", None))
    except ImportRefused as exc:
        answer = ("refused", str(exc), exc.problems)
    return answer, _audit_since(session, seq), session.revision() - revision


def _steps(session) -> list:
    seen = [_outcome(session, lambda: importer.check(session, GOOD))]
    seen.append(_outcome(session, lambda: importer.import_objections(session, GOOD)))
    seen += [_view(session, N[n]) for n in (0, 1, 2, 3)]
    seen.append(_outcome(session, lambda: importer.import_objections(session, GOOD)))  # again: all skipped
    seen.append(_outcome(session, lambda: importer.import_objections(session, CLASH)))
    seen.append(_outcome(session, lambda: importer.import_objections(session, BAD_CODE)))
    seen.append(_outcome(session, lambda: importer.check(session, csv_text(f"{N[6]},One,Row,1990-01-01,LS1 4AP,,9Nu0"))))
    return seen


def _counting_children(monkeypatch) -> list[tuple[str, bool]]:
    """Each task asked of child_task: its function, and whether it went to a child process."""
    ran: list[tuple[str, bool]] = []
    real_run = child_task.run

    def run(fn, *args, **kwargs):
        ran.append((fn.__name__, child_task.enabled()))
        return real_run(fn, *args, **kwargs)

    monkeypatch.setattr(child_task, "run", run)
    return ran


def test_the_child_plans_and_the_app_writes_exactly_what_the_in_process_import_writes(manager, twin, apart,
                                                                                        monkeypatch, caplog):
    ran = _counting_children(monkeypatch)
    apart_seen = _steps(_ready(manager))
    assert ran == [("_plan_apart", True)] * 6  # each check and import read in a child...
    assert "could not be started" not in caplog.text  # ...started, not run here instead
    child_task.enable(False)
    here_seen = _steps(_ready(twin))  # the command line's way: in this process, inside the write
    assert ran[6:] == [("_plan_apart", False)] * 6  # child processes off: planned here, in the write
    assert apart_seen == here_seen
    # And what was compared is what the import must do: the rows, the entries, the refusals.
    check, imported, *_views, again, clash, bad_code, one_bad = apart_seen
    assert check[0][2] is None and check[1:] == ([], 0)  # the dry run wrote nothing
    assert imported[0][1].startswith("Imported 5 rows: 3 new patients added, 1 already in the register; 5 coded")
    assert [a[2] for a in imported[1]] == ["patient.create", "type1.register", "type1.withdraw", "patient.create",
                                           "type2.register", "patient.create", "type1.register", "type1.register",
                                           "import.objections"]
    assert imported[1][-1][7] and imported[2] == 1  # the last entry carries the rows' digest; one revision
    assert again[0][2]["plan"].events_known == 5 and [a[2] for a in again[1]] == ["import.objections"]
    for refused, rows in ((clash, [3, 4]), (bad_code, [2])):  # refused by row number, with nothing written
        assert refused[0][0] == "refused" and [p.row for p in refused[0][2]] == rows and refused[1:] == ([], 0)
        assert "nothing was imported" in refused[0][1] and "Known" not in " ".join(map(str, refused[0][2]))
    assert one_bad[0][0] == "refused" and "code date is missing" in str(one_bad[0][2][0])


def test_a_killed_child_is_said_in_words_and_nothing_is_written(manager, apart):
    _ready(manager)
    seq, revision = _seq(manager), manager.revision()
    outcome = apart.killed_during(lambda: importer.import_objections(manager, GOOD))
    error = outcome.get("error")
    assert isinstance(error, child_task.ChildTaskFailed), outcome
    assert str(error).startswith("The import's reading of the file stopped before it finished (its process ended")
    assert "Nothing was changed. Try again" in str(error)
    assert _seq(manager) == seq and manager.revision() == revision  # not one row, not one audit entry
    assert patients.find(manager, "Evans") == []
    importer.import_objections(manager, GOOD)  # trying again works
    assert patients.find(manager, "Evans") != []


def _overtaking(manager, monkeypatch, times: int) -> list[int]:
    """Plans made apart (in this process: a test's patch does not reach a child), the first
    ``times`` of them overtaken by a patient added at the desk before the import writes."""
    meanwhile = iter(synthetic_range(630_000)[-4:])
    revisions: list[int] = []
    real = importer._plan_apart  # noqa: SLF001

    def planned(session, text):
        reg = session.register
        plan = real(reg.db.path, reg.data_key, text, session.today())
        revisions.append(plan.revision)
        if len(revisions) <= times:
            patients.add(manager, surname="Meanwhile", forenames="Desk", dob="1980-01-01", postcode_raw="LS1 4AP",
                         nhs=next(meanwhile))
        return plan

    monkeypatch.setattr(importer, "_planned_apart", planned)
    return revisions


def test_a_plan_overtaken_by_another_write_is_made_again_and_written_once(manager, monkeypatch):
    _ready(manager)
    revisions = _overtaking(manager, monkeypatch, times=1)
    seq = _seq(manager)
    change = importer.import_objections(manager, GOOD)
    assert len(revisions) == 2 and revisions[1] == revisions[0] + 1  # the second plan saw the desk's write
    assert change.data["plan"].patients_new == 3
    assert [a[2] for a in _audit_since(manager, seq)].count("import.objections") == 1
    assert len(patients.find(manager, "Ó Súilleabháin")) == 1


def test_a_plan_overtaken_every_time_is_made_inside_the_write_with_nothing_refused(manager, monkeypatch):
    _ready(manager)
    revisions = _overtaking(manager, monkeypatch, times=importer.ATTEMPTS)
    change = importer.import_objections(manager, GOOD)
    assert len(revisions) == importer.ATTEMPTS  # then no more plans apart: the write made its own
    assert change.summary.startswith("Imported 5 rows: 3 new patients added, 1 already in the register")
    assert len(patients.find(manager, "Evans")) == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/fd")
def test_when_no_process_can_be_started_the_import_runs_in_the_app(manager, twin, apart, caplog):
    """The system refuses a new process (no file descriptor left, as under a low open-file limit):
    the import reads, checks and writes in the app instead, the same as the command line, and
    the log says so."""
    import resource
    from multiprocessing import resource_tracker

    _ready(manager)
    resource_tracker.ensure_running()  # the spawn's helper process, started before the limit as in a running app
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    held: list[int] = []
    seq = _seq(manager)
    try:
        top = max(int(fd) for fd in os.listdir("/proc/self/fd")) + 16
        resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))
        with pytest.raises(OSError):
            while True:  # every descriptor below the limit taken...
                held.append(os.open(os.devnull, os.O_RDONLY))
        for fd in held[-3:]:  # ...but three: the task's pipe opens, the process's own pipes cannot
            os.close(fd)
        del held[-3:]
        change = importer.import_objections(manager, GOOD)
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert "A process for the import's reading of the file could not be started; running it in the app instead " \
           "(OSError [EMFILE]" in caplog.text
    assert child_task._live == set()  # noqa: SLF001 - no child was left behind
    child_task.enable(False)
    _ready(twin)
    twin_seq = _seq(twin)
    assert change.summary == importer.import_objections(twin, GOOD).summary
    assert _audit_since(manager, seq) == _audit_since(twin, twin_seq)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the child through /proc")
def test_a_child_killed_before_it_took_a_large_text_fails_in_words_instead_of_hanging(apart):
    """The import is the first task whose arguments are large (the CSV's text). A child killed as
    it starts (out of memory, an antivirus) must not leave the worker thread waiting for ever to
    hand them over: the task fails in words, as for a child killed later."""
    import threading
    import time
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()  # its own process, started before the watch as in a running app
    me, stop, killed = os.getpid(), threading.Event(), []

    def kill_each_new_child():
        while not stop.is_set():
            for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        spawned = b"spawn_main" in f.read()
                except (OSError, ValueError, IndexError):
                    continue  # why: a process that ended meanwhile
                if ppid == me and spawned and pid not in killed:
                    os.kill(pid, 9)
                    killed.append(pid)
            time.sleep(0.001)

    outcome: dict = {}

    def task():
        try:
            outcome["result"] = child_task.run(len, "9" * 20_000_000, what="the import's reading of the file")
        except Exception as exc:  # noqa: BLE001 - why: the test reads what the task raised
            outcome["error"] = exc

    watcher = threading.Thread(target=kill_each_new_child, daemon=True)
    watcher.start()
    worker = threading.Thread(target=task, daemon=True)
    try:
        worker.start()
        worker.join(60)
    finally:
        stop.set()
        watcher.join(5)
    assert not worker.is_alive(), "the worker thread was still handing the text to a dead child after 60 s"
    assert killed and isinstance(outcome.get("error"), child_task.ChildTaskFailed), outcome
    assert str(outcome["error"]).startswith("The import's reading of the file stopped before it finished")
