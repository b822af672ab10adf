"""A desk's session on a practice on the PostgreSQL server (ADR 0015): the same surface as
services.session.Session for the services ported to both engines (services/patients.py and
services/objections.py): ``require`` (a refusal is audited), ``write`` (the one write path,
Desk.write(): the chain and revision under the practice row lock), ``read_store`` and
``search_store``, ``codes``, ``now``/``today``, ``revision`` and ``lock``.

The user and role are the ones the desk signed in as; reading users and roles from the
server at unlock is not done yet (ADR 0005).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import date, datetime
from typing import Callable

from ..domain import codes as codes_mod
from ..domain import roles
from ..domain.uk_time import uk_date
from ..problem_log import log_problem
from ..store.errors import StoreError
from ..store.server import chain, ops
from ..store.server.desk_store import ServerStore
from .session import Locked, table_in_force, utc_now

log = logging.getLogger(__name__)


@dataclass
class ServerSession:
    desk: ops.Desk
    clock: Callable[[], datetime] = utc_now
    must_change_password: bool = False

    @classmethod
    def open(cls, conn, data_key: bytes, *, user: str, role: str, **kw) -> "ServerSession":
        return cls(ops.Desk.open(conn, data_key, user=user, role=role), **kw)

    @property
    def user(self) -> str:
        return self.desk.user

    @property
    def role(self) -> str:
        return self.desk.role

    @property
    def codes(self) -> codes_mod.CodeTable:
        """The practice's newest saved correction on the server, else the shipped table."""
        self._check_open()
        return table_in_force(ServerStore(self.desk).saved_code_table())

    def now(self) -> datetime:
        return self.clock()

    def today(self) -> date:
        return uk_date(self.clock())

    def _check_open(self) -> None:
        if self.desk.conn.closed:
            raise Locked("The register is locked. Unlock it to continue.")

    def require(self, permission: str) -> None:
        """Refuse (and audit the refusal in the practice's chain) unless the role allows it."""
        self._check_open()
        if roles.allowed(self.role, permission):
            return
        with self.desk.write(changes_register=False) as tx:
            tx.audit(f"denied.{permission}", outcome="denied")
        roles.require(self.role, permission)

    @contextmanager
    def write(self, permission: str, *, changes_register: bool = True):
        """The one write path on the server: permission, one transaction, audit rows chained
        and (unless an audited read) the revision bumped, as the transaction's last step."""
        self.require(permission)
        with self.desk.write(changes_register=changes_register) as tx:
            tx.store = ServerStore(self.desk, tx, announce=changes_register)
            yield tx

    @contextmanager
    def read_store(self, permission: str):
        self.require(permission)
        yield ServerStore(self.desk)

    @contextmanager
    def search_store(self, permission: str):
        """Each read is its own statement on the desk's autocommit connection: it sees what
        was last committed by any desk."""
        self.require(permission)
        yield ServerStore(self.desk)

    def at_once(self):
        """Session.at_once's place: on the server no task of this window holds the register
        (a task has a connection of its own), so there is nothing local to refuse at once."""
        return nullcontext()

    def revision(self) -> int:
        self._check_open()
        return self.desk.revision()

    def lock(self) -> None:
        """Audit the lock, then close the connection (the practice keys go with the desk)."""
        if self.desk.conn.closed:
            return
        try:
            with self.desk.write(changes_register=False) as tx:
                tx.audit("session.lock")
        except StoreError as exc:  # why: locking must not fail; the connection closes regardless
            log_problem(log, "The lock was not written to the server's audit trail (server unreachable)", exc)
        finally:
            self.desk.conn.close()

    def verify_audit(self):
        """The practice's chain checked (services/audit.verify) in one REPEATABLE READ snapshot of
        its own, while other desks keep appending: seq without gaps, each MAC under the practice's
        audit key (on the desk only), the head kept in the practice row its last entry."""
        self._check_open()
        return chain.verify(self.desk.conn, self.desk.keys.audit_key, self.desk.practice_id)

    # Which engine a service is on, where the file keeps more than rows (services/users.py:
    # the key file and the manager-signed user records); asked without importing psycopg.
    on_server = True
