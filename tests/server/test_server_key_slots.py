"""Key slots on the server (issue 15 item 2): one password, one Argon2id run on the desk, the
login password and the slot's unwrap key under separate labels; the server stores the wrapped
data key and checks the login, and never sees the unwrap key, the data key or the password."""

from __future__ import annotations

import os

import pytest

from gp_optout_desktop.store import keyfile
from gp_optout_desktop.store.errors import KeyDamaged, StoreError
from gp_optout_desktop.store.server import ops, schema
from tests.server import practices as P

KDF = {"alg": "argon2id", "t": 1, "m_kib": 8192, "p": 1}


def test_a_user_unlocks_the_practice_with_the_slot_kept_on_the_server(pg_db):
    pg_db.log_statements("all")
    admin = P.init(pg_db)
    practice_id = schema.add_practice(admin, "A")
    password, salt = "correct horse battery staple", os.urandom(16)
    unwrap, login_password = keyfile.derive_server_secrets(password, salt, KDF)
    login = f"{pg_db.role_prefix}alice"
    schema.add_desk_login(admin, practice_id, login, login_password)
    data_key = os.urandom(32)
    first = ops.Desk.open(P.connect(pg_db, login, login_password), data_key, user="alice", role="manager")
    with first.write() as tx:
        ops.start_register(tx, {"name": "A"})
        ops.put_key_slot(tx, "alice", unwrap, data_key)
    pid = P.add(first, P.patient("Slotted", nhs="9990000018"))
    first.conn.close()

    # Later, at another desk: the same password gives the login and the key that opens the slot.
    unwrap_again, login_again = keyfile.derive_server_secrets(password, salt, KDF)
    desk = ops.Desk.unlock(P.connect(pg_db, login, login_again), unwrap_again, user="alice", role="manager")
    assert desk.keys == first.keys and desk.search_ids("slotted") == [pid]
    with pytest.raises(StoreError, match="no key slot for bob"):
        ops.Desk.unlock(P.connect(pg_db, login, login_again), unwrap_again, user="bob", role="manager")
    # A slot altered on the server is damage, said so (the login proved the password right).
    # (the byte is flipped, not overwritten: a fixed value would leave 1 slot in 256 unchanged)
    admin.execute("UPDATE key_slots SET slot = set_byte(slot, 19, get_byte(slot, 19) # 255)")
    admin.commit()
    with pytest.raises(KeyDamaged):
        ops.Desk.unlock(P.connect(pg_db, login, login_again), unwrap_again, user="alice", role="manager")
    desk.conn.close()
    admin.close()

    log = pg_db.server.log_text()
    assert "INSERT INTO key_slots" in log  # the log really has this database's statements
    stretched = keyfile.derive_kek(password, salt, KDF)
    for secret in (unwrap.hex(), data_key.hex(), stretched.hex(), password, login_password):
        assert secret not in log
