"""Server schema migration (issue 15, helper srvdata15): the practice-wide opt-out's code rows
and the reconciliation runs get a home on the server, as the register file's schema V5 has.

Until now a migration sealed them into an archive and the overview and coding worklist of a
practice that had used the practice-wide opt-out said "not available". Same rules as every
server table: practice_id on every row, row-level security enabled and FORCEd, owned by the
NOLOGIN owner (init_server creates it as that role), a desk's change refused at commit
without its audit row. A code row is confirmed once and never rewritten (a restrictive
policy: only a row not yet confirmed may be updated, and only its confirmation columns);
a run is insert-only. It also makes the server's audit-row check one index probe however many
audit rows a transaction writes (AUDIT_CHECK_INDEX, below).
"""

from __future__ import annotations

# Grants to the desk group, merged into schema.DESK_GRANTS (the tenancy test checks every table).
GRANTS = {
    "practice_codes": "SELECT, INSERT, UPDATE (confirmed_at, confirmed_by)",
    "reconciliations": "SELECT, INSERT",
}


def sql(practice_column: str, owner: str, desk: str) -> str:
    tables = f"""
CREATE TABLE practice_codes(
    {practice_column},
    id bigint GENERATED ALWAYS AS IDENTITY,
    patient_id bigint NOT NULL,
    policy_id bigint NOT NULL,
    op text NOT NULL CHECK (op IN ('add', 'remove')),
    effective date NOT NULL, queued_at timestamptz NOT NULL,
    confirmed_at timestamptz, confirmed_by text,
    PRIMARY KEY (practice_id, id),
    FOREIGN KEY (practice_id, patient_id) REFERENCES patients(practice_id, id),
    FOREIGN KEY (practice_id, policy_id) REFERENCES policy(practice_id, id));
CREATE INDEX practice_codes_patient ON practice_codes(practice_id, patient_id, id);
-- Numbered per practice as in the register file (the run's number names what it confirmed).
CREATE TABLE reconciliations(
    {practice_column},
    id integer NOT NULL CHECK (id > 0),
    at timestamptz NOT NULL, run_by text NOT NULL, source text NOT NULL,
    encoding text NOT NULL, delimiter text NOT NULL, rows integer NOT NULL,
    not_coded integer NOT NULL, not_in_register integer NOT NULL, differ integer NOT NULL,
    agree integer NOT NULL, rows_not_in_register integer NOT NULL, rows_differ integer NOT NULL,
    rows_agree integer NOT NULL, confirmed integer NOT NULL, not_coded_oldest date,
    PRIMARY KEY (practice_id, id));
"""
    out = [tables]
    for table, grant in GRANTS.items():
        out += [f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;",
                f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY;",
                f"CREATE POLICY own_practice ON {table} USING (practice_id = app_practice())"
                f" WITH CHECK (practice_id = app_practice());",
                f"GRANT {grant} ON {table} TO {desk};",
                f"CREATE CONSTRAINT TRIGGER audited AFTER INSERT OR UPDATE OR DELETE ON {table}"
                " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION require_audit_row();"]
    out.append("CREATE POLICY confirmed_once ON practice_codes AS RESTRICTIVE FOR UPDATE"
               " USING (confirmed_at IS NULL) WITH CHECK (true);")
    out.append(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {desk};")
    out.append(AUDIT_CHECK_INDEX)
    return "\n".join(out)


# The audit-row check (require_audit_row, once per changed row at commit) asks for an audit row
# of this transaction under the practice policy: with audit_tx on (tx) alone, a transaction that
# wrote many audit rows got a BitmapAnd of audit_tx and audit_at (practice_id first) from the
# planner, reading every such row for every check: a 15,000-row import's commit took minutes
# (measured: 30,000 audit rows + 15,000 changed rows, 33 s; 0.7 s with this index). One index
# on both columns answers it with one probe.
AUDIT_CHECK_INDEX = """
DROP INDEX audit_tx;
CREATE INDEX audit_tx ON audit(tx, practice_id);
"""
