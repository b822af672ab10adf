"""Users of a server register as the desk meets them (tests): a desk login whose password is
derived from the user's own (store/server/connect.py), a ``users`` row with their role and a
key slot, all named by the login, as services/server_session.py sign_in reads them."""

from __future__ import annotations

from urllib.parse import quote

from gp_optout_desktop.store.server import connect, ops, schema
from tests.server import practices as P

PRACTICE = {"name": "Server Surgery", "address": ["1 Test Road", "Testtown"], "ods": "F84003"}


def url(pg_db) -> str:
    """The address a desk is given (--database / GP_OPTOUT_DATABASE)."""
    return (f"postgresql://{pg_db.server.host}:{pg_db.server.port}/{pg_db.dbname}"
            f"?sslrootcert={quote(str(pg_db.server.ca_file))}")


def address(pg_db) -> connect.ServerAddress:
    return connect.parse(url(pg_db))


class Register:
    """One practice on the test database, started by its manager, with users added on demand."""

    def __init__(self, pg_db):
        self.pg_db = pg_db
        self.admin = P.init(pg_db)
        self.admin.autocommit = True
        self.practice = P.new_practice(pg_db, self.admin, PRACTICE["name"])
        self.desk = P.desk(pg_db, self.practice, user="setup", role="manager")
        with self.desk.write() as tx:
            ops.start_register(tx, PRACTICE)
            # The setup desk is the practice's manager, as on a real register: on the server only an
            # active manager's login may change a users row (schema V4).
            tx.conn.execute("INSERT INTO users(name, role, active, created_at, created_by)"
                            " VALUES (%s, 'manager', true, now(), 'setup')", (self.practice.logins[0][0],))

    def login(self, name: str) -> str:
        return f"{self.pg_db.role_prefix}{name}"

    def add_user(self, name: str, password: str, role: str, *, slot: bool = True, row: bool = True) -> str:
        """The user's desk login (administrator), key slot and users row (a manager's desk)."""
        login = self.login(name)
        unwrap, login_password = connect.derive_login(address(self.pg_db), login, password)
        schema.add_desk_login(self.admin, self.practice.id, login, login_password)
        with self.desk.write(changes_register=False) as tx:
            tx.audit("user.create", detail=f"user={login}")
            if slot:
                ops.put_key_slot(tx, login, unwrap, self.practice.data_key)
            if row:
                tx.conn.execute("INSERT INTO users(name, role, active, created_at, created_by)"
                                " VALUES (%s, %s, true, now(), 'setup')", (login, role))
        return login

    def set_user(self, login: str, *, role: str | None = None, active: bool | None = None) -> None:
        with self.desk.write(changes_register=False) as tx:
            tx.audit("user.update", detail=f"user={login}")
            if role is not None:
                tx.conn.execute("UPDATE users SET role = %s WHERE name = %s", (role, login))
            if active is not None:
                tx.conn.execute("UPDATE users SET active = %s WHERE name = %s", (active, login))

    def audit(self) -> list[tuple]:
        return [tuple(r) for r in self.desk.conn.execute(
            "SELECT seq, actor, role, action, outcome, detail FROM audit ORDER BY seq")]

    def close(self) -> None:
        self.desk.conn.close()
        self.admin.close()
