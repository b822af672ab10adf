"""Users on both engines (ADR 0015): listing users, changing a role and removing a user through
services/users.py on a register file and on a practice on the PostgreSQL server, where a
user's name is their database login and their key slot is a row on the server.

``users_work`` is one script of a practice manager's and a receptionist's work; everything it
observes and every audit entry it leaves must be equal on both engines (a server login's name
read without the test database's prefix)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import psycopg
import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.services import users
from gp_optout_desktop.store.errors import StoreError
from tests.services.conftest import Backend, file_manager

PEOPLE = (("desk", roles.RECEPTIONIST), ("gp", roles.GP))


@dataclass
class Practice:
    """pm (a manager), desk (a receptionist) and gp (a GP), each signed in; ``name`` gives a
    user's name on this engine (on the server, a login: prefixed)."""

    engine: str
    sessions: dict
    prefix: str = ""
    backend: Backend | None = None
    closers: list = field(default_factory=list)
    pg: tuple = ()

    def name(self, short: str) -> str:
        return self.prefix + short

    def short(self, text: str) -> str:
        return text.replace(self.prefix, "") if self.prefix else text


def file_practice(register_dir) -> Practice:
    from gp_optout_desktop.services import session as session_service

    pm = file_manager(register_dir)
    sessions = {"pm": pm}
    for name, role in PEOPLE:
        users.add(pm, name, role, f"{name}-password-1")
        sessions[name] = session_service.unlock(register_dir, name, f"{name}-password-1")
    return Practice("sqlcipher", sessions, backend=Backend("sqlcipher", pm))


def server_practice(pg_db) -> Practice:
    """Each user signs in with a login of their own name; the practice's users rows and key
    slots are written by its first manager's desk (as the migration to the server does)."""
    from gp_optout_desktop.services.server_session import ServerSession
    from gp_optout_desktop.store.server import ops, schema
    from tests.server import practices

    admin = practices.init(pg_db)
    practice_id = schema.add_practice(admin, "Test Surgery")
    data_key, prefix = os.urandom(32), pg_db.role_prefix
    logins = {}
    for short, role in (("pm", roles.MANAGER), *PEOPLE):
        logins[short] = (prefix + short, os.urandom(12).hex(), role)
        schema.add_desk_login(admin, practice_id, logins[short][0], logins[short][1])
    sessions = {short: ServerSession.open(practices.connect(pg_db, login, password), data_key, user=login, role=role)
                for short, (login, password, role) in logins.items()}
    desk = sessions["pm"].desk
    with desk.write() as tx:
        ops.start_register(tx, {"name": "Test Surgery", "ods": "F84003"})
        for login, _password, role in logins.values():
            tx.conn.execute("INSERT INTO users(name, role, created_at, created_by) VALUES (%s, %s, now(), %s)",
                            (login, role, desk.user))
            ops.put_key_slot(tx, login, os.urandom(32), data_key)
    backend = Backend("postgresql", sessions["pm"])
    return Practice("postgresql", sessions, prefix, backend, [admin.close], (pg_db, practice_id, logins, data_key))


def close(practice: Practice) -> None:
    for session in practice.sessions.values():
        session.lock()
    for closer in practice.closers:
        closer()


def _outcome(call):
    try:
        return call()
    except Exception as exc:  # the refusal is part of the result compared
        return ("refused", type(exc).__name__, str(exc))


def users_work(p: Practice) -> list:
    pm, desk = p.sessions["pm"], p.sessions["desk"]
    seen = [users.list_users(pm)]
    seen.append(users.change_role(pm, p.name("desk"), roles.GP).summary)
    seen.append(_outcome(lambda: users.change_role(desk, p.name("gp"), roles.MANAGER)))  # a receptionist: refused
    seen.append(_outcome(lambda: users.change_role(pm, p.name("nobody"), roles.GP)))
    seen.append(_outcome(lambda: users.change_role(pm, p.name("pm"), roles.RECEPTIONIST)))  # the last manager
    seen.append(_outcome(lambda: users.change_role(pm, p.name("gp"), "wizard")))
    seen.append(users.change_role(pm, p.name("desk"), roles.RECEPTIONIST).summary)
    seen.append(_outcome(lambda: users.remove(pm, p.name("pm"))))  # yourself
    seen.append(_outcome(lambda: users.remove(desk, p.name("gp"))))  # a receptionist: refused
    seen.append(users.remove(pm, p.name("gp")).summary)
    seen.append(_outcome(lambda: users.remove(pm, p.name("gp"))))  # already removed
    seen.append(_outcome(lambda: users.change_role(pm, p.name("gp"), roles.GP)))  # removed: no such user
    seen.append(users.list_users(pm))
    seen.append(_outcome(lambda: users.list_users(desk)))
    return [_short(p, s) for s in seen]


def _on_each(engines: list, work) -> tuple[list, list]:
    """``work`` on each engine: what it observed, and the audit entries it left (numbered from
    its start, names without the server's prefix)."""
    results, trails = [], []
    for p in engines:
        since = p.backend.audit_rows()[-1][0]
        results.append(work(p))
        trails.append([(seq - since, p.short(user), role, action, outcome, p.short(detail))
                       for seq, user, role, action, _patient, outcome, detail in p.backend.audit_rows()
                       if seq > since])
    return results, trails


def _short(p: Practice, value):
    if isinstance(value, str):
        return p.short(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_short(p, v) for v in value)
    return value


@pytest.mark.server
def test_the_same_user_management_gives_the_same_results_on_both_engines(register_dir, pg_db):
    engines = [file_practice(register_dir)]
    try:
        engines.append(server_practice(pg_db))
        (file_seen, server_seen), trails = _on_each(engines, users_work)
        assert len(file_seen) == len(server_seen) == 14
        for i, (a, b) in enumerate(zip(file_seen, server_seen)):
            assert a == b, f"step {i}"
        assert trails[0] == trails[1]
        assert file_seen[0] == [("desk", roles.RECEPTIONIST), ("gp", roles.GP), ("pm", roles.MANAGER)]
        assert file_seen[12] == [("desk", roles.RECEPTIONIST), ("pm", roles.MANAGER)]
        assert [s[1] for s in file_seen if isinstance(s, tuple) and s and s[0] == "refused"] == [
            "PermissionDenied", "NotFound", "ValidationError", "ValidationError", "ValidationError",
            "PermissionDenied", "NotFound", "NotFound", "PermissionDenied"]
        assert [(t[1], t[3], t[4]) for t in trails[0]] == [
            ("pm", "user.role", "ok"), ("desk", "denied.manage_users", "denied"), ("pm", "user.role", "ok"),
            ("desk", "denied.manage_users", "denied"), ("pm", "user.remove", "ok"),
            ("desk", "denied.manage_users", "denied")]
    finally:
        for p in engines:
            close(p)


def password_work(p: Practice) -> list:
    """Adding a user, resetting a password and changing one's own: what a desk sees apart from
    the server's extra sentence (the administrator's step), which its own tests check."""
    pm, desk = p.sessions["pm"], p.sessions["desk"]
    first = lambda change: (change.summary.split(". ")[0].rstrip("."), len(change.data["password"]))  # noqa: E731
    seen = [first(users.add(pm, p.name("newbie"), roles.RECEPTIONIST))]
    seen.append(_outcome(lambda: users.add(pm, p.name("newbie"), roles.GP)))  # already a user
    seen.append(_outcome(lambda: users.add(desk, p.name("other"), roles.MANAGER)))  # a receptionist: refused
    seen.append(_outcome(lambda: users.reset_password(desk, p.name("gp"))))  # a receptionist: refused
    seen.append(_outcome(lambda: users.reset_password(pm, p.name("nobody"))))
    seen.append(len(users.reset_password(pm, p.name("gp")).data["password"]))
    seen.append(_outcome(lambda: users.change_own_password(desk, "short")))
    seen.append(users.change_own_password(desk, "desk-password-2").summary)
    seen.append(desk.must_change_password)
    seen.append(users.list_users(pm))
    return [_short(p, s) for s in seen]


@pytest.mark.server
def test_adding_resetting_and_changing_passwords_give_the_same_results_on_both_engines(register_dir, pg_db):
    engines = [file_practice(register_dir)]
    try:
        engines.append(server_practice(pg_db))
        (file_seen, server_seen), trails = _on_each(engines, password_work)
        for i, (a, b) in enumerate(zip(file_seen, server_seen)):
            assert a == b, f"step {i}"
        assert len(file_seen) == len(server_seen) == 10
        assert file_seen[0] == ("Added receptionist newbie", 14) and file_seen[7] == "Password changed."
        assert [s[1] for s in file_seen if isinstance(s, tuple) and s[0] == "refused"] == [
            "Conflict", "PermissionDenied", "PermissionDenied", "NotFound", "ValidationError"]
        assert trails[0] == trails[1]
        assert [(t[1], t[3], t[4]) for t in trails[0]] == [
            ("pm", "user.add", "ok"), ("desk", "denied.manage_users", "denied"),
            ("desk", "denied.manage_users", "denied"), ("pm", "user.reset_password", "ok"),
            ("desk", "user.change_password", "ok")]
    finally:
        for p in engines:
            close(p)


@pytest.mark.server
def test_on_the_server_only_a_manager_s_login_may_change_a_role_or_delete_a_key_slot(pg_db):
    """What holds when a desk login sends SQL of its own, past the desk's check (schema V4)."""
    p = server_practice(pg_db)
    try:
        desk, pm = p.sessions["desk"].desk, p.sessions["pm"].desk
        me, gp = p.name("desk"), p.name("gp")
        with desk.write(changes_register=False) as tx:
            changed = tx.conn.execute("UPDATE users SET role = 'manager' WHERE name = %s", (me,)).rowcount
            dropped = tx.conn.execute("DELETE FROM key_slots WHERE name = %s", (gp,)).rowcount
            tx.audit("test.insider")
        assert (changed, dropped) == (0, 0)
        assert users.list_users(p.sessions["pm"]) == [(me, roles.RECEPTIONIST), (gp, roles.GP),
                                                        (p.name("pm"), roles.MANAGER)]
        with pm.write(changes_register=False) as tx:  # the same statement from a manager's login
            assert tx.conn.execute("UPDATE users SET role = 'gp' WHERE name = %s", (me,)).rowcount == 1
            tx.audit("test.manager")
    finally:
        close(p)


@pytest.mark.server
def test_removing_a_user_on_the_server_deletes_their_key_slot(pg_db):
    from gp_optout_desktop.store.server import ops, schema
    from tests.server import practices

    p = server_practice(pg_db)
    try:
        pg_db_, practice_id, logins, data_key = p.pg
        login, password, role = logins["gp"]
        unwrap = os.urandom(32)
        with p.sessions["pm"].desk.write(changes_register=False) as tx:
            ops.put_key_slot(tx, login, unwrap, data_key)  # a slot the test can open
        assert ops.Desk.unlock(practices.connect(pg_db, login, password), unwrap, user=login, role=role).keys
        users.remove(p.sessions["pm"], login)
        conn = practices.connect(pg_db, login, password)
        try:
            with pytest.raises(StoreError, match="no key slot"):
                ops.Desk.unlock(conn, unwrap, user=login, role=role)
        finally:
            conn.close()
        with psycopg.connect(pg_db.admin_conninfo) as admin:  # the row stays, inactive: the trail names them
            assert admin.execute("SELECT active FROM users WHERE practice_id = %s AND name = %s",
                                 (practice_id, login)).fetchone() == (False,)
        assert schema.LATEST >= 4
    finally:
        close(p)
