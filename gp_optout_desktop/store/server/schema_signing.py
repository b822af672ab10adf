"""Server schema V7 (V5 on branch srvops15 before main's V5 and V6 were merged in): signing the
exclusion file on the server (ADR 0015 addendum "signing the exclusion file on the server").

- ``manager_slots``: the practice's manager key, wrapped on a manager's desk under that
  manager's own unwrap key. A desk login reads only its own row; only an active manager's
  login may add or remove one (a migration wraps it for every other manager) or read
  another's (to replace it at a reset, or delete it at a demotion or removal).
- ``signing_keys``: the exclusion file's Ed25519 seed sealed under the manager key (one row
  per practice); only a manager's login may write it.
- ``exclusion_exports``: each export's record (the register file's ``last_export``), append-only.
Every change needs its audit row in the same transaction (the V1 trigger).
"""

from __future__ import annotations

TABLES = {"manager_slots": "SELECT, INSERT, DELETE", "signing_keys": "SELECT, INSERT, UPDATE",
          "exclusion_exports": "SELECT, INSERT"}


def signing_schema(desk: str) -> str:
    practice = "practice_id integer NOT NULL DEFAULT app_practice() REFERENCES practices(id)"
    out = [f"""
CREATE TABLE manager_slots(
    {practice},
    name text NOT NULL, slot bytea NOT NULL,
    PRIMARY KEY (practice_id, name));
CREATE TABLE signing_keys(
    {practice},
    sealed bytea NOT NULL, key_id text NOT NULL, saved_by text NOT NULL,
    saved_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (practice_id));
CREATE TABLE exclusion_exports(
    {practice},
    id bigint GENERATED ALWAYS AS IDENTITY,
    at timestamptz NOT NULL DEFAULT now(), record text NOT NULL,
    PRIMARY KEY (practice_id, id));
-- A login reads its own row; a manager also the practice's other managers' rows, so that a
-- reset, a demotion or a removal can replace or delete them (PostgreSQL lets a DELETE reach
-- only rows its SELECT policies show). Each row is wrapped under its own manager's password,
-- and a manager already holds the key they wrap.
CREATE POLICY own_row ON manager_slots FOR SELECT
    USING (practice_id = app_practice() AND (name = session_user OR app_is_manager()));
CREATE POLICY managers_add ON manager_slots FOR INSERT WITH CHECK (practice_id = app_practice() AND app_is_manager());
CREATE POLICY managers_remove ON manager_slots FOR DELETE USING (practice_id = app_practice() AND app_is_manager());
CREATE POLICY own_practice ON signing_keys USING (practice_id = app_practice())
    WITH CHECK (practice_id = app_practice());
CREATE POLICY managers_only ON signing_keys AS RESTRICTIVE FOR INSERT WITH CHECK (app_is_manager());
CREATE POLICY managers_only_update ON signing_keys AS RESTRICTIVE FOR UPDATE USING (app_is_manager())
    WITH CHECK (app_is_manager());
CREATE POLICY own_practice ON exclusion_exports USING (practice_id = app_practice())
    WITH CHECK (practice_id = app_practice());
CREATE POLICY managers_only ON exclusion_exports AS RESTRICTIVE FOR INSERT WITH CHECK (app_is_manager());
"""]
    for table, grants in TABLES.items():
        out.append(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;")
        out.append(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY;")
        out.append(f"GRANT {grants} ON {table} TO {desk};")
        out.append(f"CREATE CONSTRAINT TRIGGER audited AFTER INSERT OR UPDATE OR DELETE ON {table} "
                   f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION require_audit_row();")
    out.append(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {desk};")
    return "\n".join(out)
