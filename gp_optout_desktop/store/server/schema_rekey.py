"""Server schema V9 (issue 15, helper rekey15): re-keying a server practice (ADR 0015 addendum
"re-keying a server practice").

- ``practices.key_epoch``: which data key the practice is under (0 until its first re-key). A
  desk may update only the head and revision columns of its practice row, so only
  ``app_rekey_begin`` moves it; a desk compares it under the chain lock before chaining.
- ``key_epochs``: one row per re-key: the epoch entry's seq, the new key's id and the earlier
  keys sealed under the new field key (on the desk). Desks read it; only ``app_rekey_begin``
  writes it.
- ``app_rekey_begin`` and ``app_rekey_proxies``: SECURITY DEFINER, owned by the NOLOGIN owner,
  for an active manager's login only (app_is_manager, V4), inside the login's own practice
  (row-level security still applies inside them). Events are insert-only for desks: re-sealing
  a proxy's name is the one update they get, and only in a transaction that began an epoch.
- An audit entry with the epoch action is refused unless its transaction began that epoch at
  that seq; a ``key_epochs`` row is refused at commit unless its epoch entry was chained in the
  same transaction; and, as every change, without an audit row at all (the V1 trigger).
"""

from __future__ import annotations

EPOCH_ACTION = "register.rekey_epoch"

_SQL = """
ALTER TABLE practices ADD COLUMN key_epoch integer NOT NULL DEFAULT 0;
CREATE TABLE key_epochs(
    practice_id integer NOT NULL DEFAULT app_practice() REFERENCES practices(id),
    epoch integer NOT NULL CHECK (epoch > 0),
    epoch_seq bigint NOT NULL,   -- the epoch entry, MAC'd under the old key; epoch_seq + 1 is the new key's first
    key_id text NOT NULL,        -- names the new key without revealing it
    retired bytea NOT NULL,      -- every earlier audit and blind-index key, sealed under the new field key
    tx bigint NOT NULL DEFAULT txid_current(),
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (practice_id, epoch));
ALTER TABLE key_epochs ENABLE ROW LEVEL SECURITY;
ALTER TABLE key_epochs FORCE ROW LEVEL SECURITY;
CREATE POLICY own_practice ON key_epochs USING (practice_id = app_practice())
    WITH CHECK (practice_id = app_practice());
GRANT SELECT ON key_epochs TO {desk};
CREATE CONSTRAINT TRIGGER audited AFTER INSERT OR UPDATE OR DELETE ON key_epochs
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION require_audit_row();

CREATE FUNCTION app_rekey_begin(new_epoch integer, new_epoch_seq bigint, new_key_id text, sealed bytea)
    RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    cur_epoch integer;
    cur_seq bigint;
BEGIN
    IF NOT app_is_manager() THEN
        RAISE EXCEPTION 'only a practice manager may re-key the register' USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT key_epoch, audit_seq INTO cur_epoch, cur_seq FROM practices WHERE id = app_practice() FOR NO KEY UPDATE;
    IF cur_epoch IS NULL OR new_epoch <> cur_epoch + 1 OR new_epoch_seq <> cur_seq + 1 THEN
        RAISE EXCEPTION 'the re-key does not follow the practice''s key epoch and chain head'
            USING ERRCODE = 'serialization_failure';
    END IF;
    INSERT INTO key_epochs(practice_id, epoch, epoch_seq, key_id, retired)
        VALUES (app_practice(), new_epoch, new_epoch_seq, new_key_id, sealed);
    UPDATE practices SET key_epoch = new_epoch WHERE id = app_practice();
END $$;
REVOKE ALL ON FUNCTION app_rekey_begin(integer, bigint, text, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_rekey_begin(integer, bigint, text, bytea) TO {desk};

CREATE FUNCTION app_rekey_under_way() RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ SELECT EXISTS (SELECT 1 FROM key_epochs WHERE practice_id = app_practice() AND tx = txid_current()) $$;

CREATE FUNCTION app_rekey_proxies(ids bigint[], blobs bytea[]) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    changed integer;
BEGIN
    IF NOT app_is_manager() THEN
        RAISE EXCEPTION 'only a practice manager may re-key the register' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT app_rekey_under_way() THEN
        RAISE EXCEPTION 'a proxy is re-sealed only inside a re-key' USING ERRCODE = 'insufficient_privilege';
    END IF;
    UPDATE events e SET proxy = t.b FROM unnest(ids, blobs) AS t(i, b)
        WHERE e.practice_id = app_practice() AND e.id = t.i AND e.proxy IS NOT NULL;
    GET DIAGNOSTICS changed = ROW_COUNT;
    RETURN changed;
END $$;
REVOKE ALL ON FUNCTION app_rekey_proxies(bigint[], bytea[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_rekey_proxies(bigint[], bytea[]) TO {desk};
REVOKE ALL ON FUNCTION app_rekey_under_way() FROM PUBLIC;

-- An epoch entry only where its transaction began that epoch at that seq.
CREATE FUNCTION audit_epoch_entry() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM key_epochs WHERE practice_id = NEW.practice_id AND epoch_seq = NEW.seq
                   AND tx = txid_current()) THEN
        RAISE EXCEPTION 'an epoch entry is written only by a re-key: refused' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER epoch_entry BEFORE INSERT ON audit FOR EACH ROW
    WHEN (NEW.action = '{epoch_action}') EXECUTE FUNCTION audit_epoch_entry();

-- And no epoch without its entry, checked at commit.
CREATE FUNCTION key_epoch_has_entry() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM audit WHERE practice_id = NEW.practice_id AND seq = NEW.epoch_seq
                   AND action = '{epoch_action}' AND tx = txid_current()) THEN
        RAISE EXCEPTION 'a key epoch was begun without its epoch entry in the audit trail: refused'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER has_entry AFTER INSERT ON key_epochs
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION key_epoch_has_entry();
"""


def sql(desk: str) -> str:
    return _SQL.replace("{desk}", desk).replace("{epoch_action}", EPOCH_ACTION)
