"""Signing the exclusion file on the server (ADR 0015 addendum): the practice's manager key
lives in each manager's own slot on the server, the signing key sealed under it; a manager
exports a signed file whose signature verifies with the practice's public key; a receptionist
can neither export nor read another user's manager slot nor write the signing key; the
export record gives the status line; a register file moved to the server keeps its signing
key, so the clinical system's installed public key still verifies. On the real cluster."""

from __future__ import annotations

import os

import psycopg
import pytest

from gp_optout_desktop.domain import roles
from gp_optout_desktop.exclusion import reader, signing
from gp_optout_desktop.exclusion.errors import ExportError
from gp_optout_desktop.services import exclusion, objections, patients, server_migration, users
from gp_optout_desktop.services.server_session import sign_in
from gp_optout_desktop.store.errors import KeyDamaged, WrongPassword
from gp_optout_desktop.store.server import connect, passwords, signing as server_signing
from tests.server import practices
from tests.server.accounts import Register, address


@pytest.fixture
def register(pg_db):
    reg = Register(pg_db)
    yield reg
    reg.close()


def test_a_manager_signs_the_exclusion_file_on_the_server_and_a_receptionist_cannot(register, pg_db, tmp_path):
    mo = register.add_user("mo", "mo-password-1", roles.MANAGER)
    rita = register.add_user("rita", "rita-password-1", roles.RECEPTIONIST)
    manager = sign_in(address(pg_db), mo, "mo-password-1")  # the practice's first manager sign-in makes the keys
    assert manager.manager_key is not None
    assert [r[3] for r in register.audit()[-2:]] == ["login", "export.signing_key_created"]
    try:
        assert exclusion.status(manager) == "Exclusion file: never exported"
        pid = patients.add(manager, surname="Signed", forenames="Sue", dob="1970-01-01", postcode_raw="LS1 4AP",
                           nhs="9990000018").data["patient_id"]
        objections.record(manager, pid)
        pem, kid = exclusion.public_key_pem(manager)
        change = exclusion.export(manager, tmp_path / "out")
        record = change.data["record"]
        assert record["rows"] == 1 and record["key_id"] == kid and record["by"] == mo
        assert exclusion.status(manager).startswith("Exclusion file: up to date (1 listed")
        # The consuming system's reader accepts it with the practice's public key.
        got = reader.read_export(tmp_path / "out", signing.load_public_key_pem(pem), practice_ods="F84003",
                                 state_path=tmp_path / "state.json")
        assert [r.nhs_number for r in got.rows] == ["9990000018"]
        objections.record(manager, patients.add(manager, surname="Later", forenames="Lou", dob="1971-01-01",
                                                postcode_raw="LS1 4AP").data["patient_id"])
        assert exclusion.status(manager).startswith("Exclusion file: OUT OF DATE")
    finally:
        manager.lock()

    # A receptionist: refused the export (audited), and her login sees no manager slot at all,
    # cannot open the sealed key with the practice data key, and cannot replace it.
    reception = sign_in(address(pg_db), rita, "rita-password-1")
    try:
        assert reception.manager_key is None
        with pytest.raises(PermissionError):
            exclusion.export(reception, tmp_path / "out2")
        assert register.audit()[-1][3:5] == ("denied.export", "denied")
        conn = reception.desk.conn
        assert conn.execute("SELECT count(*) FROM manager_slots").fetchone()[0] == 0
        with pytest.raises(KeyDamaged):
            server_signing.signing_seed(conn, os.urandom(32), reception.desk.keys.practice_ref)
        assert conn.execute("UPDATE signing_keys SET sealed = %s", (b"x" * 60,)).rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO manager_slots(name, slot) VALUES (%s, %s)", (rita, b"x" * 60))
    finally:
        reception.lock()
    assert not (tmp_path / "out2").exists()

    # Signing in again, the manager's own slot opens the same, unchanged key.
    again = sign_in(address(pg_db), mo, "mo-password-1")
    try:
        assert exclusion.public_key_pem(again)[1] == kid
    finally:
        again.lock()


def test_a_register_file_moved_to_the_server_keeps_its_signing_key(pg_db, demo, tmp_path):
    """The demo register's public key (installed on the clinical system) verifies the file a
    manager exports from the server after the move."""
    from tests.server.test_server_migrate import _cli_login

    pem_before, kid_before = exclusion.public_key_pem(demo)
    admin = practices.init(pg_db)
    target = practices.new_practice(pg_db, admin, "Moved")
    admin.close()
    url, login, _pw = _cli_login(pg_db, target.id, tmp_path)
    conn, unwrap = connect.connect_user(connect.parse(url), login, "pm-server-password")
    with conn:
        server_migration.migrate(demo, conn, unwrap, server="test", login_prefix=pg_db.role_prefix)
    manager = sign_in(connect.parse(url), login, "pm-server-password")
    try:
        assert manager.manager_key is not None
        assert exclusion.public_key_pem(manager) == (pem_before, kid_before)
        change = exclusion.export(manager, tmp_path / "out")
        got = reader.read_export(tmp_path / "out", signing.load_public_key_pem(pem_before),
                                 practice_ods=change.data["result"].manifest.practice_ods,
                                 state_path=tmp_path / "state.json")
        assert len(got.rows) == change.data["record"]["rows"] > 0
    finally:
        manager.lock()


def test_the_cli_exports_the_exclusion_file_from_the_server(pg_db, demo, tmp_path, capsys, monkeypatch):
    """`gp-optout export --database URL --login LOGIN`: the manager's own sign-in, the signed
    file, the public key and the status line, as for a register file."""
    from gp_optout_desktop import cli
    from tests.server.test_server_migrate import _cli_login

    admin = practices.init(pg_db)
    target = practices.new_practice(pg_db, admin, "Moved")
    admin.close()
    url, login, pw = _cli_login(pg_db, target.id, tmp_path)
    conn, unwrap = connect.connect_user(connect.parse(url), login, "pm-server-password")
    with conn:
        server_migration.migrate(demo, conn, unwrap, server="test", login_prefix=pg_db.role_prefix)
    demo.lock()
    monkeypatch.delenv(connect.ENV, raising=False)
    server = ["--database", url, "--login", login, "--server-password-file", str(pw)]
    assert cli.main(["export-public-key", "--out", str(tmp_path / "key.pem"), *server]) == 0
    assert cli.main(["export", "--out", str(tmp_path / "out"), *server]) == 0
    text, err = capsys.readouterr()
    assert "Exclusion file written to" in text, err
    got = reader.read_export(tmp_path / "out", signing.load_public_key_pem((tmp_path / "key.pem").read_bytes()),
                             practice_ods=_ods(tmp_path / "out"), state_path=tmp_path / "state.json")
    assert len(got.rows) > 0
    assert cli.main(["export-status", *server]) == 0
    assert "Up to date: no change since the last export." in capsys.readouterr()[0]


def _ods(out) -> str:
    import json

    return json.loads((reader.current_generation(out) / "manifest.json").read_text())["practice_ods"]


def test_the_manager_key_follows_a_password_change_and_reaches_a_manager_added_on_the_server(register, pg_db,
                                                                                          tmp_path, capsys,
                                                                                          monkeypatch):
    """A manager who changes their password still signs (their manager slot is re-wrapped with
    their key slot); a manager added on the server by one who holds the key gets it under the
    temporary password and keeps it through their own change."""
    from gp_optout_desktop import cli
    from gp_optout_desktop.services import users
    from tests.server.accounts import url

    mo = register.add_user("mo", "mo-password-1", roles.MANAGER)
    manager = sign_in(address(pg_db), mo, "mo-password-1")
    kid = exclusion.public_key_pem(manager)[1]
    users.change_own_password(manager, "mo-password-2")
    new = register.login("nadia")
    temporary = users.add(manager, new, roles.MANAGER).data["password"]
    manager.lock()
    again = sign_in(address(pg_db), mo, "mo-password-2")
    try:
        assert again.manager_key is not None and exclusion.public_key_pem(again)[1] == kid
    finally:
        again.lock()

    monkeypatch.delenv("GP_OPTOUT_DATABASE", raising=False)
    (tmp_path / "admin.pw").write_text(pg_db.server.password + "\n")
    (tmp_path / "desk.pw").write_text(temporary + "\n")
    assert cli.main(["server", "add-desk", "--practice", str(register.practice.id), "--login", new, "--database",
                     url(pg_db), "--admin-password-file", str(tmp_path / "admin.pw"), "--desk-password-file",
                     str(tmp_path / "desk.pw")]) == 0
    capsys.readouterr()
    nadia = sign_in(address(pg_db), new, temporary)
    users.change_own_password(nadia, "nadia-password-1")
    nadia.lock()
    nadia = sign_in(address(pg_db), new, "nadia-password-1")
    try:
        assert nadia.manager_key is not None and exclusion.public_key_pem(nadia)[1] == kid
        assert exclusion.export(nadia, tmp_path / "out").data["record"]["key_id"] == kid
    finally:
        nadia.lock()


def _administrator_sets(register, pg_db, login: str, password: str) -> None:
    """`gp-optout server set-desk-password` for ``login`` (the administrator's step)."""
    from gp_optout_desktop.store.server import schema

    _unwrap, login_password = connect.derive_login(address(pg_db), login, password)
    schema.set_login_password(register.admin.cursor(), login, login_password)


def _signs(session, tmp_path, name: str) -> None:
    """``session`` writes a signed exclusion file that the practice's public key verifies."""
    pem, _kid = exclusion.public_key_pem(session)
    exclusion.export(session, tmp_path / name)
    reader.read_export(tmp_path / name, signing.load_public_key_pem(pem), practice_ods="F84003",
                       state_path=tmp_path / f"{name}.json")


def test_a_promoted_manager_and_one_recovered_by_the_recovery_key_can_sign(register, pg_db, tmp_path):
    """Issue 15 gap: a promotion by a manager who holds the manager key gives it to the new
    manager (under a temporary password, in the promotion's transaction), and the recovery key
    made by a holder opens it (as the register file's does), which a receptionist's login
    cannot even read."""
    mo = register.add_user("mo", "mo-password-1", roles.MANAGER)
    gus = register.add_user("gus", "gus-password-1", roles.GP)
    rita = register.add_user("rita", "rita-password-1", roles.RECEPTIONIST)
    manager = sign_in(address(pg_db), mo, "mo-password-1")  # makes the keys
    key = manager.manager_key
    try:
        recovery = users.new_recovery_key(manager).data["recovery_key"]
        change = users.change_role(manager, gus, roles.MANAGER)
    finally:
        manager.lock()
    actions = [r[3] for r in register.audit()[-5:]]
    assert actions == ["register.recovery_key", "user.role", "user.reset_password", "export.manager_key_given",
                       "session.lock"]
    _administrator_sets(register, pg_db, gus, change.data["password"])
    promoted = sign_in(address(pg_db), gus, change.data["password"])
    try:
        assert promoted.manager_key == key and promoted.must_change_password
        users.change_own_password(promoted, "gus-password-2")
        _signs(promoted, tmp_path, "by-gus")
    finally:
        promoted.lock()

    reception = sign_in(address(pg_db), rita, "rita-password-1")
    try:
        assert reception.desk.conn.execute("SELECT count(*) FROM manager_slots").fetchone()[0] == 0
        assert passwords.recovery_manager_key(reception.desk.conn, recovery, reception.desk.keys.practice_ref) is None
    finally:
        reception.lock()

    _administrator_sets(register, pg_db, mo, "mo-at-the-admin-1")  # mo lost their password
    recovered = sign_in(address(pg_db), mo, "mo-at-the-admin-1", recovery_key=recovery)
    try:
        assert recovered.manager_key == key
        users.change_own_password(recovered, "mo-password-2")
        _signs(recovered, tmp_path, "by-mo")
    finally:
        recovered.lock()


def test_without_the_manager_key_a_recovery_key_or_promotion_says_what_to_do(register, pg_db, tmp_path):
    mo = register.add_user("mo", "mo-password-1", roles.MANAGER)
    gus = register.add_user("gus", "gus-password-1", roles.GP)
    sign_in(address(pg_db), mo, "mo-password-1").lock()  # makes the keys
    holder = sign_in(address(pg_db), mo, "mo-password-1")
    first = users.new_recovery_key(holder).data["recovery_key"]
    holder.lock()
    register.admin.execute("DELETE FROM manager_slots WHERE name = %s", (mo,))  # mo's slot lost (not re-wrapped)
    keyless = sign_in(address(pg_db), mo, "mo-password-1")
    try:
        assert keyless.manager_key is None
        change = users.new_recovery_key(keyless)
        assert "It does not open the manager key (you do not hold it)" in change.summary
        promoted = users.change_role(keyless, gus, roles.MANAGER)
        assert "You do not hold the manager key, so they cannot sign the exclusion file yet" in promoted.summary
        assert "password" not in promoted.data  # no reset without a key to hand over
    finally:
        keyless.lock()
    names = [r[0] for r in register.admin.execute("SELECT name FROM manager_slots")]
    assert names == []  # the first recovery key's manager row went with it
    with pytest.raises(WrongPassword, match="^The recovery key is wrong"):
        sign_in(address(pg_db), mo, "mo-password-1", recovery_key=first)
    recovered = sign_in(address(pg_db), mo, "mo-password-1", recovery_key=change.data["recovery_key"])
    try:
        assert recovered.manager_key is None
        with pytest.raises(ExportError, match="ask a practice manager who holds it to reset your password on the "
                                              "Users screen"):
            exclusion.export(recovered, tmp_path / "out")
        assert not (tmp_path / "out").exists()
    finally:
        recovered.lock()
