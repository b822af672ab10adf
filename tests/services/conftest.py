"""The ``backend`` fixture: the services tests that take it run once on each engine (ADR 0015).

- ``sqlcipher``: a new register file in tmp_path (the ``manager`` fixture's, tests/conftest.py);
- ``postgresql`` (marked ``server``, so ``-m server`` selects it and a skip fails under CI):
  a fresh database on the cluster the tests start (tests/conftest.py ``pg_db``), the server
  schema initialised, one practice with one desk login, its register started.

Either way ``backend.manager`` is practice manager 'pm''s session, with the surface the
ported services use (services/session.py Session or services/server_session.py ServerSession).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

PRACTICE = {"name": "Test Surgery", "address": ["1 Test Road", "Testtown"], "phone": "01632 960001",
            "email": "surgery@example.invalid"}


@dataclass
class Backend:
    name: str
    manager: object
    opened: list = field(default_factory=list)  # further sessions, locked at teardown
    _pg: object = None  # (pg_db, practice) on the server

    def session(self, user: str, role: str):
        """Another user of the same register (file) or practice (server), with ``role``."""
        if self.name == "sqlcipher":
            from gp_optout_desktop.services import session as session_service, users

            users.add(self.manager, user, role, f"{user}-password-1")
            other = session_service.unlock(self.manager.folder, user, f"{user}-password-1")
        else:
            from gp_optout_desktop.services.server_session import ServerSession
            from tests.server import practices

            pg_db, practice = self._pg
            other = ServerSession.open(practices.connect(pg_db, *practice.logins[0]), practice.data_key,
                                       user=user, role=role)
        self.opened.append(other)
        return other

    def audit_rows(self) -> list[tuple]:
        """(seq, user, role, action, patient, outcome, detail) for every entry, oldest first.
        Read straight from each engine's audit table: a test's view, not a service."""
        if self.name == "sqlcipher":
            from gp_optout_desktop.store import audit

            with self.manager.register.reading() as conn:
                rows = audit.select(conn, limit=1_000_000)
            return sorted((r[0], r[2], r[3], r[4], r[5], r[6], r[8]) for r in rows)
        return [tuple(r) for r in self.manager.desk.conn.execute(
            "SELECT seq, actor, role, action, patient, outcome, detail FROM audit ORDER BY seq")]

    def patient_ref(self, nhs: str | None, patient_id: int) -> str:
        """How this engine's audit names a patient: the NHS number, or its blind index."""
        if self.name == "sqlcipher":
            return nhs or f"id:{patient_id}"
        return self.manager.desk.keys.audit_ref(nhs, patient_id)


    # -- set-up the services ported so far cannot do on the server (the practice list) or a
    # script wants without a clinical system's export (a confirmation): written directly, each in one audited write
    # with the same audit entry on both engines, so scripts still compare their trails.
    def confirm(self, patient_id: int) -> list[int]:
        """Every not-yet-confirmed event of the patient confirmed, as a reconciliation would."""
        session = self.manager
        if self.name == "sqlcipher":
            from tests.in_force_helpers import confirm

            return confirm(session, patient_id)
        desk = session.desk
        with desk.write() as tx:
            done = [e.event_id for e in desk.history(patient_id) if e.confirmed_at is None]
            for event_id in done:
                tx.conn.execute("INSERT INTO event_marks(event_id, mark, at, by) VALUES (%s, 'confirmed', %s, %s)",
                                (event_id, session.now(), "reconciliation test"))
            tx.patients.add(patient_id)
            tx.audit("event.confirmed", self.patient_ref(desk.get_patient(patient_id).nhs_number, patient_id),
                     detail=f"events={len(done)} test")
        return done

    def deduct(self, patient_id: int, on) -> None:
        """The practice list shows the patient as deducted (left the practice) since ``on``."""
        from gp_optout_desktop.domain.practice_list import DEDUCTED

        session = self.manager
        if self.name == "sqlcipher":
            from gp_optout_desktop.store import registration

            with session.write("import_practice_list") as ctx:
                registration.put(ctx.conn, patient_id, registration.Registration(DEDUCTED, on, None, None, None),
                                 by=session.user, at=session.now())
                ctx.audit("practice_list.test", detail="deducted=1")
            return
        with session.desk.write() as tx:
            tx.conn.execute("INSERT INTO registration(patient_id, status, since, updated_at, updated_by)"
                            " VALUES (%s, %s, %s, %s, %s)", (patient_id, DEDUCTED, on, session.now(), session.user))
            tx.patients.add(patient_id)
            tx.audit("practice_list.test", detail="deducted=1")

    def practice_optout_on(self, effective, reason: str = "Test: the GPs decided") -> None:
        """The practice-wide opt-out turned on (a GP's decision), recorded now by the service
        itself on either engine (its code rows have a server home since server schema V6)."""
        from gp_optout_desktop.domain import roles
        from gp_optout_desktop.domain.practice_policy import ON
        from gp_optout_desktop.services import exclusion

        gp = self.session("gp", roles.GP)
        gp.clock = self.manager.clock
        exclusion.set_practice_optout(gp, ON, reason, effective)


def file_manager(register_dir):
    from gp_optout_desktop.services import setup

    practice = setup.practice_details(**PRACTICE)
    session, _recovery = setup.create_register(register_dir, ods="F84003", practice=practice, user="pm",
                                               password="pm-password-1")
    return session


def server_manager(pg_db, stack, pg: list | None = None):
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
    if pg is not None:
        pg.extend((pg_db, practice))
    return session


@pytest.fixture(params=["sqlcipher", pytest.param("postgresql", marks=pytest.mark.server)])
def backend(request, register_dir):
    closers: list = []
    pg: list = []
    if request.param == "sqlcipher":
        session = file_manager(register_dir)
    else:
        session = server_manager(request.getfixturevalue("pg_db"), closers, pg)
    backend = Backend(request.param, session, _pg=tuple(pg) or None)
    yield backend
    try:
        for opened in (*backend.opened, session):
            if request.param == "postgresql" or opened.register.is_open:
                opened.lock()
    finally:
        for close in closers:
            close()


@pytest.fixture
def both_engines(register_dir, pg_db):
    """The same practice started on the register file and on the server, for the scripts whose
    results are compared step by step; both sessions locked and the server's set-up
    connections closed after the test."""
    closers: list = []
    pg: list = []
    engines = [Backend("sqlcipher", file_manager(register_dir))]
    engines.append(Backend("postgresql", server_manager(pg_db, closers, pg), _pg=tuple(pg)))
    yield engines
    for engine in engines:
        engine.manager.lock()
    for close in closers:
        close()
