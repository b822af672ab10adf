"""The server sees ciphertext only: seed known names and NHS numbers through the desk, then
search a plain pg_dump and the server's full statement log (log_statement=all, with bound
parameters) for any of them and for key material. Finds none."""

from __future__ import annotations

import base64
import subprocess

import pytest

from gp_optout_desktop.domain.events import Proxy
from tests.server import practices as P

PEOPLE = [("Quixwellzyk", "Marmaduke", "9990000018", "ZZ99 3VZ"), ("Vonkleptryx", "Ottoline", "9990000026", "LS1 4AP")]


def _markers() -> dict[str, str]:
    out = {}
    for surname, forename, nhs, postcode in PEOPLE:
        out.update({surname: surname, forename: forename, f"nhs {nhs}": nhs,
                    f"nhs spaced {nhs}": f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}", f"postcode {postcode}": postcode,
                    f"postcode key {postcode}": postcode.replace(" ", "")})
    out.update({"address": "Quillfeatherby Lane", "phone": "07700 900461", "email": "marmaduke.q@example.org",
                "proxy name": "Proxymorgwen", "date of birth": "1931-07-19"})
    return out


def _key_forms(key: bytes) -> list[str]:
    return [key.hex(), key.hex().upper(), base64.b64encode(key).decode(), "\\x" + key.hex()]


def _passwords_changed(pg_db) -> dict:
    """A manager adds a user and resets another's password; a user changes their own (login and
    key slot on the desk; ALTER ROLE carries a verifier computed by libpq); the administrator
    gives logins their passwords. Returns each password and what is derived from it."""
    from gp_optout_desktop.domain import roles
    from gp_optout_desktop.services import users
    from gp_optout_desktop.services.server_session import sign_in
    from gp_optout_desktop.store.errors import WrongPassword
    from gp_optout_desktop.store.server import connect, schema
    from tests.server.accounts import Register, address

    reg = Register(pg_db)
    where = address(pg_db)
    pm = reg.add_user("pm", "Pm-Typed-Password-Zq7", roles.MANAGER)
    rita = reg.add_user("rita", "Rita-Typed-Password-Kx3", roles.RECEPTIONIST)
    manager = sign_in(where, pm, "Pm-Typed-Password-Zq7")
    added = users.add(manager, reg.login("nina"), roles.GP).data["password"]
    reset = users.reset_password(manager, rita).data["password"]
    with pytest.raises(WrongPassword):  # Change my password with a wrong current one: checked on the desk
        users.change_password(manager, "Pm-Wrong-Current-Yt4", "Pm-Never-Set-Password-Qh2")
    users.change_password(manager, "Pm-Typed-Password-Zq7", "Pm-Changed-Password-Wv9")
    recovery = users.new_recovery_key(manager).data["recovery_key"]
    manager.lock()
    schema.add_desk_login(reg.admin, reg.practice.id, reg.login("nina"),
                          connect.derive_login(where, reg.login("nina"), added)[1])
    schema.set_desk_password(reg.admin, rita, connect.derive_login(where, rita, reset)[1])
    sign_in(where, rita, reset).lock()
    sign_in(where, pm, "Pm-Changed-Password-Wv9", recovery_key=recovery).lock()
    reg.close()
    out = {"recovery key": recovery, "recovery key as typed": recovery.replace("-", "")}
    for login, password in ((pm, "Pm-Typed-Password-Zq7"), (pm, "Pm-Changed-Password-Wv9"),
                            (pm, "Pm-Wrong-Current-Yt4"), (pm, "Pm-Never-Set-Password-Qh2"),
                            (rita, "Rita-Typed-Password-Kx3"), (rita, reset), (reg.login("nina"), added)):
        unwrap, login_password = connect.derive_login(where, login, password)
        tag = f"{password[:3]}... #{len(out) // 3}"  # one per password (by prefix alone, only pm's last was checked)
        out[f"typed password {tag}"] = password
        out[f"login password {tag}"] = login_password
        out[f"unwrap key {tag}"] = unwrap
    assert len(out) == 2 + 3 * 7
    return out


def test_no_plaintext_or_key_material_in_a_dump_or_the_statement_log(pg_db):
    pg_db.log_statements("all")  # every later session on this database, with its parameters
    admin = P.init(pg_db)
    practice = P.new_practice(pg_db, admin, "A", logins=1)
    d = P.started(pg_db, practice)
    ids = []
    for surname, forename, nhs, postcode in PEOPLE:
        ids.append(P.add(d, P.patient(surname, forename, nhs=nhs, postcode=postcode, dob="1931-07-19",
                                      address=["12 Quillfeatherby Lane"], phone="07700 900461",
                                      email="marmaduke.q@example.org")))
    P.record(d, ids[0], proxy=Proxy("legal_guardian", "Proxymorgwen", "LPA seen", "alice"),
             letter=("register", P.TODAY))
    P.record(d, ids[1])
    # The desk reads them back: they are there, and searchable, on the desk side.
    assert d.search_ids("Quixwell") == [ids[0]] and d.search_ids("999 000 0026") == [ids[1]]
    assert d.history(ids[0])[0].proxy.name == "Proxymorgwen"
    d.conn.close()
    admin.close()
    typed = _passwords_changed(pg_db)

    dump = subprocess.run([str(pg_db.server.bin_dir / "pg_dump"), "--format=plain", "--no-owner",
                           "--dbname", pg_db.admin_conninfo], capture_output=True, text=True, check=True,
                          timeout=120).stdout
    log = pg_db.server.log_text()
    # Both really hold the data: the dump the rows, the log this database's statements and parameters.
    assert "COPY public.patients" in dump and "COPY public.audit" in dump and "\\x" in dump
    assert "INSERT INTO patients" in log and "parameters: $1" in log and pg_db.dbname in log

    keys = d.keys
    secrets = {name: [value, value.lower(), value.upper()] for name, value in _markers().items()}
    secrets["desk password"] = [practice.logins[0][1]]
    for name, value in typed.items():  # typed passwords, the logins derived from them, unwrap keys
        secrets[name] = _key_forms(value) if isinstance(value, bytes) else [value]
    for name, key in (("data key", practice.data_key), ("field key", keys.field_key),
                      ("index key", keys.index_key), ("audit key", keys.audit_key)):
        secrets[name] = _key_forms(key)
    for where, text in (("pg_dump", dump), ("statement log", log)):
        found = [name for name, forms in secrets.items() if any(form in text for form in forms)]
        assert found == [], f"{where} holds {found}"
