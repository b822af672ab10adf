"""The consult command: exit codes, one-line reasons on stderr, no traceback."""

from __future__ import annotations

import argparse

import pytest

from gp_optout_desktop import cli_exclusion
from gp_optout_desktop.exclusion import signing

from excl_helpers import NHS, export


@pytest.fixture
def setup(tmp_path, key):
    from datetime import datetime, timezone

    export(tmp_path / "x", key, when=datetime.now(timezone.utc))
    (tmp_path / "pub.pem").write_bytes(signing.public_key_pem(key))
    (tmp_path / "c.csv").write_text(f"nhs_number\r\n{NHS[0]}\r\n{NHS[20]}\r\n12345\r\n", newline="")  # no \r\r\n on Windows
    return tmp_path


def args(tmp, *extra):
    """The consult command line; --practice and --state (both required) default to this test's."""
    base = ["consult", "--exclusions", str(tmp / "x"), "--public-key", str(tmp / "pub.pem"),
            "--in", str(tmp / "c.csv"), "--out", str(tmp / "out.csv")]
    if "--practice" not in extra:
        base += ["--practice", "F84003"]
    if "--state" not in extra:
        base += ["--state", str(tmp / "s.json")]
    return base + list(extra)


def test_consult_ok(setup, capsys):
    assert cli_exclusion.main(args(setup, "--practice", "F84003", "--state", str(setup / "s.json"))) == 0
    out = capsys.readouterr()
    assert "May be extracted: 1 of 3 candidates" in out.out and "row 4: held back" in out.out
    assert NHS[0] not in out.out + out.err and NHS[20] not in out.out + out.err  # identifiers only in the output file
    assert (setup / "out.csv").read_bytes().decode() == f"nhs_number\r\n{NHS[20]}\r\n"


@pytest.mark.parametrize(
    "extra, spoil, words",
    [
        (["--practice", "B82001"], None, "not B82001"),
        ([], lambda t: (t / "pub.pem").write_bytes(b"junk"), "not a PEM public key"),
        ([], lambda t: (t / "pub.pem").unlink(), "public key file .* does not exist"),
        ([], lambda t: (t / "x" / "CURRENT").unlink(), "no CURRENT file"),
        (["--state", "STATE"], lambda t: (t / "s.json").write_text("[]"), "not a valid record of revisions"),
    ],
)
def test_consult_refusals_are_one_line(setup, capsys, extra, spoil, words):
    if spoil:
        spoil(setup)
    extra = [str(setup / "s.json") if e == "STATE" else e for e in extra]
    assert cli_exclusion.main(args(setup, *extra)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("gp-optout: consult refused, nothing may be extracted: ")
    assert __import__("re").search(words, err)


def test_add_commands_plugs_into_another_parser():
    parser = argparse.ArgumentParser(prog="gp-optout")
    cli_exclusion.add_commands(parser.add_subparsers(dest="command"))
    ns = parser.parse_args(["consult", "--exclusions", "d", "--public-key", "k", "--in", "i", "--out", "o",
                            "--practice", "F84003", "--state", "s.json"])
    assert ns.func is cli_exclusion.run_consult and str(ns.state) == "s.json" and ns.practice == "F84003"


def test_consult_through_the_main_gp_optout_command(setup, capsys):
    from gp_optout_desktop import cli

    assert cli.main(args(setup)) == 0
    assert "May be extracted: 1 of 3" in capsys.readouterr().out
    (setup / "pub.pem").write_bytes(b"junk")
    assert cli.main(args(setup)) == 1
    assert (setup / "out.csv").read_bytes() == b""
