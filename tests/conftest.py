"""Shared fixtures: every test gets a fresh encrypted register in its own temp folder.

Argon2id runs for real in every test, but with cheaper parameters (1 pass, 8 MiB) so a
suite with hundreds of unlocks stays fast (the mutation run opts in to Argon2's floor, see
TEST_KDF_SETS); tests/store/test_keys_and_unlock.py checks the
production parameters and benchmarks/bench_keys.py measures their cost.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from gp_optout_desktop.store import keyfile  # noqa: E402

PRODUCTION_KDF = dict(keyfile.KDF_DEFAULTS)
# The mutation run (scripts/run-mutation) runs these tests hundreds of times over; it opts in
# with GP_OPTOUT_TEST_KDF=floor to Argon2's floor (8 KiB, still real Argon2id, still checked by
# keyschema's bounds). Only this file reads the variable: the app's parameters never change
# (tests/mutation/test_mutation_kdf.py).
TEST_KDF_SETS = {"fast": {"alg": "argon2id", "t": 1, "m_kib": 8192, "p": 1},
                 "floor": {"alg": "argon2id", "t": 1, "m_kib": 8, "p": 1}}
_KDF_CHOICE = os.environ.get("GP_OPTOUT_TEST_KDF") or "fast"
if _KDF_CHOICE not in TEST_KDF_SETS:
    raise pytest.UsageError(f"GP_OPTOUT_TEST_KDF must be one of {sorted(TEST_KDF_SETS)}, not {_KDF_CHOICE!r}")
FAST_KDF = TEST_KDF_SETS[_KDF_CHOICE]


@pytest.fixture(autouse=True)
def fast_kdf(monkeypatch):
    monkeypatch.setattr(keyfile, "KDF_DEFAULTS", dict(FAST_KDF))
    monkeypatch.setattr(keyfile, "SERVER_KDF", dict(FAST_KDF))  # server logins keep parameters of their own


@pytest.fixture(autouse=True)
def own_sign_in_counts(tmp_path_factory, monkeypatch):
    """Each test its own count of wrong server sign-ins (store/sign_in_counts.py), never the
    user's real one."""
    monkeypatch.setenv("GP_OPTOUT_STATE_DIR", str(tmp_path_factory.mktemp("state")))


@pytest.fixture(autouse=True)
def tasks_in_this_process():
    """The desktop app's start (ui/app.py: responsive.tune) turns on heavy reads in a process
    of their own for the rest of the process; a test that started the app must not leave it
    on for the tests after it (a test's monkeypatch does not reach a spawned child)."""
    from gp_optout_desktop import child_task

    was, derive_here = child_task.enabled(), keyfile._apart_failed  # noqa: SLF001
    yield
    child_task.shutdown()
    child_task.enable(was)
    keyfile._apart_failed = derive_here  # noqa: SLF001 - a test whose Argon2id child died must not pass that on


class TasksApart:
    """Heavy reads in a process of their own, as the desktop app runs them (child_task)."""

    @staticmethod
    def killed_during(task) -> dict:
        """Run ``task`` on a thread, kill its child process as soon as it starts (as the OS does
        when memory runs out), and return what the task returned or raised."""
        import threading
        import time

        from gp_optout_desktop import child_task

        outcome = {}

        def run():
            try:
                outcome["result"] = task()
            except Exception as exc:  # noqa: BLE001 - why: the test reads what the task raised
                outcome["error"] = exc

        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.monotonic() + 20
        while not child_task._live and time.monotonic() < deadline:  # noqa: SLF001 - the child, once started
            time.sleep(0.005)
        (child,) = list(child_task._live)  # noqa: SLF001
        child.kill()
        thread.join(30)
        return outcome


@pytest.fixture
def apart():
    from gp_optout_desktop import child_task

    child_task.enable()
    yield TasksApart()
    child_task.shutdown()
    child_task.enable(False)


@pytest.fixture
def register_dir(tmp_path) -> Path:
    return tmp_path / "register"


@pytest.fixture
def manager(register_dir):
    """A new register (practice manager 'pm') with no patients."""
    from gp_optout_desktop.services import setup

    practice = setup.practice_details(name="Test Surgery", address=["1 Test Road", "Testtown"], phone="01632 960001",
                                      email="surgery@example.invalid")
    session, _recovery = setup.create_register(register_dir, ods="F84003", practice=practice, user="pm",
                                               password="pm-password-1")
    yield session
    if session.register.is_open:
        session.lock()


@pytest.fixture
def demo(register_dir):
    """A demo register with 300 synthetic patients and the demo users; yields the manager's session."""
    from gp_optout_desktop.services import demo as demo_service

    session, _recovery, _stats = demo_service.create_demo(register_dir, 300)
    yield session
    if session.register.is_open:
        session.lock()


@pytest.fixture
def add_patient():
    """Add a synthetic patient through the service layer; returns its id."""
    from gp_optout_desktop.domain import nhs_number
    from gp_optout_desktop.services import patients

    numbers = nhs_number.iter_synthetic(500_000)  # above the demo generator's range

    def add(session, surname="Testperson", forenames="Alex", dob="1970-05-06", postcode="LS1 4AP", nhs="auto", **kw):
        if nhs == "auto":
            nhs = next(numbers)
        return patients.add(session, surname=surname, forenames=forenames, dob=dob, postcode_raw=postcode,
                            nhs=nhs, **kw).data["patient_id"]

    return add


@pytest.fixture
def cli_pm(register_dir, monkeypatch, capsys):
    """``run(*args) -> (exit code, stdout, stderr)``: the real CLI as practice manager 'pm' on a
    new register (created with 'init')."""
    from gp_optout_desktop import cli

    monkeypatch.setenv("GP_OPTOUT_REGISTER", str(register_dir))
    monkeypatch.setenv("GP_OPTOUT_PASSWORD", "pm-password-1")

    def run(*args):
        code = cli.main(["--user", "pm", *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    assert run("init", "--ods", "F84003", "--practice-name", "Cli Surgery", "--address", "1 Road")[0] == 0
    return run


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "posix_only(reason=...): drives a POSIX-only mechanism (SIGKILL, /proc/mounts); skipped on Windows, with the reason")


def pytest_runtest_setup(item):
    mark = item.get_closest_marker("posix_only")
    if mark is not None:
        reason = mark.kwargs.get("reason")
        if not reason:
            raise pytest.UsageError(f"{item.nodeid}: posix_only needs reason=... (why it cannot run on Windows)")
        if os.name == "nt":
            pytest.skip(f"POSIX only: {reason}")


# ---- PostgreSQL (server mode): the cluster the tests start themselves --------------------

def _under_ci() -> bool:
    return os.environ.get("CI") == "true"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A skipped PostgreSQL test (marked ``server``: every test under tests/server/ and the
    services tests' postgresql backend) fails the run under CI (CI=true); locally the skip
    shows its reason."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and _under_ci() and item.get_closest_marker("server") and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"a PostgreSQL test was skipped under CI (CI=true), which is a failure: {reason}"


@pytest.fixture(scope="session")
def pg_server():
    """The session's PostgreSQL cluster (tests/server/cluster.py; skips visibly when it cannot
    start, fails under CI)."""
    from tests.server.cluster import Cluster, ClusterUnavailable

    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed: scripts/run-tests installs the 'server' extra")
    try:
        cluster = Cluster().start()
    except ClusterUnavailable as exc:
        # The makereport hook above turns this skip into a failure under CI.
        pytest.skip(f"PostgreSQL cannot start here: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_db(pg_server):
    """A fresh, empty database for this test (CREATE DATABASE ... TEMPLATE), dropped afterwards
    with the roles named with its ``role_prefix``."""
    from tests.server.cluster import fresh_database

    with fresh_database(pg_server) as db:
        yield db
