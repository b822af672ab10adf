"""Fixtures for the server-mode (PostgreSQL) tests.

- ``pg_server`` (session): one throwaway cluster started by the tests themselves
  (tests/server/cluster.py: TLS verify-full + SCRAM only, no Unix socket, run as ``nobody``
  under root). Attributes: host, port, ca_file, log_file, log_text(), bin_dir,
  admin_conninfo(dbname="postgres"), admin(dbname) (an autocommit psycopg connection),
  conninfo(dbname=, user=, password=, **extra), template.
- ``pg_db`` (function): a fresh database per test, created from a prepared template, dropped
  afterwards with every role whose name starts with ``pg_db.role_prefix`` (roles are
  cluster-wide: a test creating roles names them with that prefix so tests cannot collide).

Every test under tests/server/ gets the ``server`` marker, so ``scripts/run-tests -m server``
runs exactly these. PostgreSQL tests never skip silently: locally a skip shows its reason;
under CI (CI=true) any skip of a server test is turned into a failure, here, once.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _under_ci() -> bool:
    return os.environ.get("CI") == "true"


def _is_server_test(item) -> bool:
    return HERE == Path(item.path).resolve().parent or HERE in Path(item.path).resolve().parents


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    # tryfirst: marked before pytest's own -m selection runs over the same items.
    for item in items:
        if _is_server_test(item):
            item.add_marker(pytest.mark.server)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and _under_ci() and _is_server_test(item) and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"a PostgreSQL test was skipped under CI (CI=true), which is a failure: {reason}"


@pytest.fixture(scope="session")
def pg_server():
    """The session's PostgreSQL cluster (skips visibly when it cannot start; fails under CI)."""
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
