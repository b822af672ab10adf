"""Server schema migration (issue 15, helper srvdata15, after schema_coding.py was merged): the
practice list's merge on the server. Its own migration, so the code-rows migration stays as it
was merged (a migration once applied never changes).
"""

from __future__ import annotations

# The practice list's merge (a superseded NHS number's history moved onto the record that
# replaced it, as the register file's store/registration.py move_history does). Events are
# append-only for desks, so this is the one way they move: a function owned by the owner role,
# run for an active practice manager's login only (app_is_manager, schema V4), within the
# login's own practice (row-level security still applies inside it), and like any change it is
# refused at commit unless the desk wrote its audit row in the same transaction.
_SQL = """
CREATE FUNCTION app_merge_history(from_id bigint, to_id bigint) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    moved integer;
BEGIN
    IF NOT app_is_manager() THEN
        RAISE EXCEPTION 'only a practice manager may merge two records' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF from_id = to_id OR NOT EXISTS (SELECT 1 FROM patients WHERE practice_id = app_practice() AND id = to_id) THEN
        RAISE EXCEPTION 'no such record to merge into' USING ERRCODE = 'foreign_key_violation';
    END IF;
    UPDATE events SET patient_id = to_id WHERE practice_id = app_practice() AND patient_id = from_id;
    GET DIAGNOSTICS moved = ROW_COUNT;
    UPDATE events SET submitted_by = to_id WHERE practice_id = app_practice() AND submitted_by = from_id;
    UPDATE letters SET patient_id = to_id WHERE practice_id = app_practice() AND patient_id = from_id;
    UPDATE signposts SET patient_id = to_id WHERE practice_id = app_practice() AND patient_id = from_id;
    DELETE FROM current_state WHERE practice_id = app_practice() AND patient_id = from_id;
    RETURN moved;
END $$;
REVOKE ALL ON FUNCTION app_merge_history(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_merge_history(bigint, bigint) TO {desk};
"""


def sql(desk: str) -> str:
    return _SQL.replace("{desk}", desk)
