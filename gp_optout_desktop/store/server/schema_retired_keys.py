"""Server schema V10 (issue 15, helper srvops15; V9 is re-keying's, numbered at the merge):
the exclusion file's retired public keys (ADR 0015 addendum "replacing the signing key on the
server").

When a practice manager replaces the signing key, the old key's PUBLIC half is kept here (key
id, PEM, who and when), so a file signed before the replacement can still be checked against
the key it was signed with. Append-only for desks (SELECT, INSERT); only an active manager's
login may add a row, and only with its audit row in the same transaction (the V1 trigger).
The private half is never kept: the seed in ``signing_keys`` is overwritten in the same
transaction.
"""

from __future__ import annotations

TABLES = {"retired_signing_keys": "SELECT, INSERT"}


def retired_keys_schema(desk: str) -> str:
    return f"""
CREATE TABLE retired_signing_keys(
    practice_id integer NOT NULL DEFAULT app_practice() REFERENCES practices(id),
    key_id text NOT NULL, public_pem text NOT NULL,
    retired_by text NOT NULL, retired_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (practice_id, key_id));
CREATE POLICY own_practice ON retired_signing_keys USING (practice_id = app_practice())
    WITH CHECK (practice_id = app_practice());
CREATE POLICY managers_only ON retired_signing_keys AS RESTRICTIVE FOR INSERT WITH CHECK (app_is_manager());
ALTER TABLE retired_signing_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE retired_signing_keys FORCE ROW LEVEL SECURITY;
GRANT {TABLES["retired_signing_keys"]} ON retired_signing_keys TO {desk};
CREATE CONSTRAINT TRIGGER audited AFTER INSERT OR UPDATE OR DELETE ON retired_signing_keys
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION require_audit_row();
"""
