"""docs/exclusion-file.md's worked example is real: the reader accepts it byte for byte."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from gp_optout_desktop.exclusion import format as fmt
from gp_optout_desktop.exclusion import signing
from gp_optout_desktop.exclusion.errors import ExpiredError
from gp_optout_desktop.exclusion.reader import read_export

DOC = Path(__file__).resolve().parents[2] / "docs" / "exclusion-file.md"


def block(name: str) -> bytes:
    match = re.search(rf"<!-- example:{re.escape(name)} -->\n```[a-z]*\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert match, f"the spec lost its {name} example"
    return match.group(1).encode("ascii")


@pytest.fixture
def example_dir(tmp_path):
    gen = tmp_path / "g000000001842-20250301T093000Z-3f9c0a17"
    gen.mkdir()
    (tmp_path / "CURRENT").write_bytes(gen.name.encode() + b"\n")
    (gen / "exclusions.csv").write_bytes(block("exclusions.csv"))
    (gen / "manifest.json").write_bytes(block("manifest.json"))
    (gen / "manifest.sig").write_bytes(bytes.fromhex(block("manifest.sig.hex").decode().strip()))
    return tmp_path


def test_worked_example_is_accepted_and_means_what_the_text_says(example_dir):
    key = signing.load_public_key_pem(block("public.pem"))
    state_file = example_dir.parent / "consult-state.json"
    exset = read_export(example_dir, key, practice_ods="F84003", state_path=state_file,
                        now=datetime(2025, 3, 2, tzinfo=timezone.utc))
    assert exset.manifest.register_revision == 1842 and exset.manifest.objectors_without_nhs_number == 1
    assert exset.manifest.format_version == 2
    # 999 000 0050 has only a legacy Type 2 objection: not listed, so it may be extracted.
    assert [n for n in ("9990000018", "9990000026", "9990000050") if exset.may_extract(n)] == ["9990000018",
                                                                                                "9990000050"]
    with pytest.raises(ExpiredError):
        read_export(example_dir, key, practice_ods="F84003", state_path=state_file,
                    now=datetime(2025, 3, 8, 9, 30, tzinfo=timezone.utc))


def test_example_key_is_the_documented_seed_and_bytes_are_canonical():
    example = signing.private_key_from_bytes(bytes(range(32)))
    assert signing.public_key_pem(example) == block("public.pem")
    manifest = fmt.parse_manifest(block("manifest.json"))
    assert fmt.serialise_manifest(manifest) == block("manifest.json")
    assert manifest.signing_key_id == signing.key_id(example)
    assert signing.sign(example, block("manifest.json")).hex() == block("manifest.sig.hex").decode().strip()
    assert fmt.serialise_rows(fmt.parse_rows(block("exclusions.csv"))) == block("exclusions.csv")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_documented_openssl_and_sha256_checks_work_on_the_example(example_dir):
    gen = next(p for p in example_dir.iterdir() if p.is_dir())
    (gen / "register-public.pem").write_bytes(block("public.pem"))
    cmd = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "register-public.pem", "-rawin",
           "-in", "manifest.json", "-sigfile", "manifest.sig"]
    assert cmd == block("openssl.sh").decode().split("\n")[0].split(), "the spec's command changed: update this test"
    done = subprocess.run(cmd, cwd=gen, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    manifest = fmt.parse_manifest(block("manifest.json"))
    assert hashlib.sha256((gen / "exclusions.csv").read_bytes()).hexdigest() == manifest.list_sha256
