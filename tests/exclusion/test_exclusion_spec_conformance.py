"""docs/exclusion-file.md section 5: every consumer rule is a numbered MUST naming its
conformance tests, and every named test exists (a renamed or deleted test breaks this)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "exclusion-file.md"


def section_5() -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("## 5. Reading a set")
    return text[start:text.index("\n## 6.", start)]


def musts() -> dict[int, str]:
    """MUST number -> its paragraph (up to the next MUST or heading)."""
    parts = re.split(r"^- \*\*MUST (\d+)\.\*\*", section_5(), flags=re.M)
    return {int(n): body.split("\n**")[0] for n, body in zip(parts[1::2], parts[2::2])}


def functions_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}


def test_musts_are_numbered_one_to_n_without_gaps():
    numbers = list(musts())
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 18


def test_every_must_names_at_least_one_test_and_every_named_test_exists():
    cache: dict[Path, set[str]] = {}
    for number, body in musts().items():
        named = re.findall(r"`(tests/[\w/]+\.py)::(test_\w+)`", body)
        assert named, f"MUST {number} names no conformance test"
        for rel, name in named:
            path = ROOT / rel
            assert path.is_file(), f"MUST {number} names {rel}, which does not exist"
            functions = cache.setdefault(path, functions_in(path))
            assert name in functions, f"MUST {number} names {rel}::{name}, which does not exist"


def test_the_strict_consult_tests_are_all_cited():
    """Each reproduction of issue 11 finding 6 backs a rule in the spec."""
    cited = set(re.findall(r"::(test_\w+)`", section_5()))
    strict = functions_in(ROOT / "tests" / "exclusion" / "test_exclusion_strict_consult.py")
    assert strict <= cited, f"not cited in the spec: {sorted(strict - cited)}"
