"""`gp-optout codes ... --database URL --login LOGIN` (ADR 0015 addendum srvrest15): a practice
manager corrects the code table of a practice on the real PostgreSQL the tests start, with
their own sign-in; another desk's session has the correction in force; a receptionist's login
is refused and writes no version; two managers saving at once both succeed, in turn."""

from __future__ import annotations

import pytest

from gp_optout_desktop import cli
from gp_optout_desktop.domain import roles
from gp_optout_desktop.services import codes, server_session
from gp_optout_desktop.store.server import connect
from tests.server import accounts
from tests.services.test_code_table import corrected

pytestmark = pytest.mark.server


def test_a_manager_corrects_the_code_table_from_the_cli_on_the_server(pg_db, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(connect.ENV, raising=False)
    reg = accounts.Register(pg_db)
    try:
        mo = reg.add_user("mo", "mo-password-1", roles.MANAGER)
        rita = reg.add_user("rita", "rita-password-1", roles.RECEPTIONIST)
        (tmp_path / "mo.pw").write_text("mo-password-1\n")
        (tmp_path / "rita.pw").write_text("rita-password-1\n")
        table = tmp_path / "codes.json"
        table.write_text(corrected(ctv3="XaZ8A", verify=["snomed"]), encoding="utf-8")

        def server(login, pw):
            return ["--database", accounts.url(pg_db), "--login", login, "--server-password-file", str(tmp_path / pw)]

        assert cli.main(["codes", "save", "--from", str(table), "--reason", "CSO confirmed", *server(rita, "rita.pw")]) == 3
        assert "refused: A receptionist may not correct the objection code table." in capsys.readouterr().err
        assert cli.main(["codes", "save", "--from", str(table), "--reason", "CSO confirmed", *server(mo, "mo.pw")]) == 0
        assert "Code table version 1 saved and in force" in capsys.readouterr().out
        assert cli.main(["codes", "history", *server(mo, "mo.pw")]) == 0
        assert "version 1 " in capsys.readouterr().out
        other = server_session.sign_in(accounts.address(pg_db), rita, "rita-password-1")  # another desk
        try:
            assert codes.in_force(other).version == 1 and other.codes.lookup("type1", "withdraw").ctv3 == "XaZ8A"
        finally:
            other.lock()
        assert cli.main(["codes", "reset", "--reason", "back", *server(mo, "mo.pw")]) == 0
        assert "Code table version 2: back to the table shipped" in capsys.readouterr().out
        actions = [r[3] for r in reg.audit()]
        assert actions.count("codes.save") == 1 and actions.count("codes.reset") == 1
        assert "denied.edit_codes" in actions
    finally:
        reg.close()


def test_two_managers_saving_at_once_take_turns(pg_db):
    """Both saves succeed with consecutive versions: the next version is taken under the
    practice row's lock (store/server/coding_rows.py insert_code_table), not a key clash."""
    import threading

    reg = accounts.Register(pg_db)
    desks = []
    try:
        for name in ("mo", "max"):
            login = reg.add_user(name, f"{name}-password-1", roles.MANAGER)
            desks.append(server_session.sign_in(accounts.address(pg_db), login, f"{name}-password-1"))
        rounds, errors = 5, []
        barrier = threading.Barrier(2)

        def saver(session, who):
            for i in range(rounds):
                barrier.wait()
                try:
                    codes.save(session, corrected(meaning=f"Type 1 objection withdrawn ({who} {i})"), f"{who} {i}")
                except Exception as exc:  # noqa: BLE001 - the test reports any failure below
                    errors.append(f"{who} {i}: {type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=saver, args=(d, who)) for d, who in zip(desks, ("mo", "max"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        versions = codes.history(desks[0])
        assert [v.version for v in versions] == list(range(1, 2 * rounds + 1))
        assert sorted(v.reason for v in versions) == sorted(f"{w} {i}" for w in ("mo", "max") for i in range(rounds))
        assert [r[3] for r in reg.audit()].count("codes.save") == 2 * rounds
    finally:
        for d in desks:
            d.lock()
        reg.close()
