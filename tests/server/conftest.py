"""The server-mode (PostgreSQL) tests: marked ``server``; their fixtures are in tests/conftest.py.

- ``pg_server`` (session): one throwaway cluster started by the tests themselves
  (tests/server/cluster.py: TLS verify-full + SCRAM only, no Unix socket, run as ``nobody``
  under root). Attributes: host, port, ca_file, log_file, log_text(), bin_dir,
  admin_conninfo(dbname="postgres"), admin(dbname) (an autocommit psycopg connection),
  conninfo(dbname=, user=, password=, **extra), template.
- ``pg_db`` (function): a fresh database per test, created from a prepared template, dropped
  afterwards with every role whose name starts with ``pg_db.role_prefix`` (roles are
  cluster-wide: a test creating roles names them with that prefix so tests cannot collide).

Every test under tests/server/ gets the ``server`` marker, so ``scripts/run-tests -m server``
runs exactly these (and the services tests' postgresql ``backend``). PostgreSQL tests never
skip silently: locally a skip shows its reason; under CI (CI=true) any skip of a test marked
``server`` is turned into a failure, in tests/conftest.py, once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _is_server_test(item) -> bool:
    return HERE == Path(item.path).resolve().parent or HERE in Path(item.path).resolve().parents


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    # tryfirst: marked before pytest's own -m selection runs over the same items.
    for item in items:
        if _is_server_test(item):
            item.add_marker(pytest.mark.server)


# The CI rule (a skipped PostgreSQL test fails the run) and the ``pg_server``/``pg_db`` fixtures
# live in tests/conftest.py: the services tests' ``backend`` fixture (tests/services/conftest.py)
# runs on the same cluster.
