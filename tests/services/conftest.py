"""The ``backend`` fixture: the services tests that take it run once on each engine (ADR 0015).

- ``sqlcipher``: a new register file in tmp_path (the ``manager`` fixture's, tests/conftest.py);
- ``postgresql`` (marked ``server``, so ``-m server`` selects it and a skip fails under CI):
  a fresh database on the cluster the tests start (tests/conftest.py ``pg_db``), the server
  schema initialised, one practice with one desk login, its register started.

Either way ``backend.manager`` is practice manager 'pm''s session, with the surface the
ported services use (services/session.py Session or services/server_session.py ServerSession).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

PRACTICE = {"name": "Test Surgery", "address": ["1 Test Road", "Testtown"], "phone": "01632 960001",
            "email": "surgery@example.invalid"}


@dataclass
class Backend:
    name: str
    manager: object


def file_manager(register_dir):
    from gp_optout_desktop.services import setup

    practice = setup.practice_details(**PRACTICE)
    session, _recovery = setup.create_register(register_dir, ods="F84003", practice=practice, user="pm",
                                               password="pm-password-1")
    return session


def server_manager(pg_db, stack):
    from gp_optout_desktop.services.server_session import ServerSession
    from gp_optout_desktop.store.server import ops
    from tests.server import practices

    admin = practices.init(pg_db)
    stack.append(admin.close)
    practice = practices.new_practice(pg_db, admin, PRACTICE["name"])
    session = ServerSession.open(practices.connect(pg_db, *practice.logins[0]), practice.data_key,
                                 user="pm", role="manager")
    with session.desk.write() as tx:
        ops.start_register(tx, {**PRACTICE, "ods": "F84003"})
    return session


@pytest.fixture(params=["sqlcipher", pytest.param("postgresql", marks=pytest.mark.server)])
def backend(request, register_dir):
    closers: list = []
    if request.param == "sqlcipher":
        session = file_manager(register_dir)
    else:
        session = server_manager(request.getfixturevalue("pg_db"), closers)
    yield Backend(request.param, session)
    try:
        if request.param == "sqlcipher" and session.register.is_open:
            session.lock()
        if request.param == "postgresql":
            session.lock()
    finally:
        for close in closers:
            close()
