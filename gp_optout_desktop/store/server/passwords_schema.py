"""Server schema migration (issue 15, helper srvusers15): users' passwords on the server.

A user's name is their database login (ADR 0015). Their password opens two things made from
one Argon2id run: their login (the server keeps a SCRAM verifier) and their key slot (the
practice data key wrapped on a desk). This migration lets a desk keep both in step:

- ``key_slots.must_change``: the slot was wrapped under a temporary password (a user added,
  a password reset, a migrated user); the desk asks for a new one at sign-in.
- Only an active practice manager's login may add a users row or a key slot (a practice with
  no manager yet, being started or migrated, is its first manager's to fill).
- A key slot may be re-wrapped by its own login (changing one's own password) or by a
  manager's (a reset); never by another desk user's, whatever SQL it sends. Deleting one
  stays a manager's (V4).

The login's own password is changed by the desk itself (``ALTER ROLE`` on its own login,
which PostgreSQL allows any role without CREATEROLE) in the same transaction as its slot.
A manager cannot change another login's password: the administrator does (``gp-optout
server set-desk-password``), so no role a desk can reach holds CREATEROLE.
"""

from __future__ import annotations

from . import schema as _schema


def passwords_on_the_server() -> str:
    desk = _schema.DESK
    return f"""
ALTER TABLE key_slots ADD COLUMN must_change boolean NOT NULL DEFAULT false;
CREATE FUNCTION app_may_manage_users() RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ SELECT app_is_manager() OR NOT EXISTS (SELECT 1 FROM users WHERE practice_id = app_practice()
                                                 AND role = 'manager' AND active) $$;
GRANT EXECUTE ON FUNCTION app_may_manage_users() TO {desk};
CREATE POLICY managers_add ON users AS RESTRICTIVE FOR INSERT WITH CHECK (app_may_manage_users());
CREATE POLICY managers_add ON key_slots AS RESTRICTIVE FOR INSERT WITH CHECK (app_may_manage_users());
CREATE POLICY own_or_manager ON key_slots AS RESTRICTIVE FOR UPDATE
    USING (name = session_user OR app_is_manager()) WITH CHECK (name = session_user OR app_is_manager());
"""
