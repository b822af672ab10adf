"""The hazard log (docs/hazard-log.md) is complete, consistent and points at real tests.

The log is kept in the shape of the DCB0129 hazard log: one `### H-NN Title` section per
hazard with a fixed list of `- **Field:** value` lines. These tests parse it and check what a
reviewer would: every field present, risks scored on the DCB0129 5x5 matrix and rated as
the matrix says, residual risk no higher than initial, the status consistent with the
residual risk, and every test named as a control existing (file, and function read with
`ast`), so a renamed or deleted test breaks the build instead of leaving a dead reference.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOG = ROOT / "docs" / "hazard-log.md"

FIELDS = (
    "Hazard",
    "Cause",
    "Effect",
    "Potential harm",
    "Initial risk",
    "Design controls",
    "Test controls",
    "Training controls",
    "Business process controls",
    "Residual risk",
    "Owner",
    "Status",
    "Practice controls (DCB0160)",
)
STATUSES = ("Open", "Closed", "Transferred")

# DCB0129's categories and 5x5 matrix (rows: likelihood 1..5, columns: severity 1..5).
SEVERITY = {1: "Minor", 2: "Significant", 3: "Considerable", 4: "Major", 5: "Catastrophic"}
LIKELIHOOD = {1: "Very low", 2: "Low", 3: "Medium", 4: "High", 5: "Very high"}
RATING = {1: "Very low", 2: "Low", 3: "Medium", 4: "High", 5: "Very high"}
DCB0129_MATRIX = {
    1: (1, 1, 2, 2, 3),
    2: (1, 2, 2, 3, 4),
    3: (2, 2, 3, 3, 4),
    4: (2, 3, 3, 4, 5),
    5: (3, 4, 4, 5, 5),
}

HEADING = re.compile(r"^### (H-\d{2,3}) (\S.*)$")
FIELD = re.compile(r"^- \*\*(?P<name>[^*]+):\*\* ?(?P<value>.*)$")
RISK = re.compile(
    r"^severity (?P<s>[1-5]) (?P<s_name>[A-Za-z ]+?) x likelihood (?P<l>[1-5]) (?P<l_name>[A-Za-z ]+?)"
    r" = risk (?P<r>[1-5]) (?P<r_name>[A-Za-z ]+?)\.?$")
# A test file or benchmark (optionally ::name, read with ast), or a smoke/CI script under scripts/.
TEST_REF = re.compile(r"^(?P<path>(?:tests|benchmarks)/[\w./-]+\.py|scripts/[\w.-]+)(?P<names>(?:::[A-Za-z_]\w*)*)$")


@dataclass(frozen=True)
class Risk:
    severity: int
    likelihood: int
    rating: int


@dataclass
class Hazard:
    id: str
    title: str
    line: int
    fields: dict[str, str]


@lru_cache(maxsize=1)
def log_text() -> str:
    return LOG.read_text(encoding="utf-8")


def section(text: str, title: str) -> str:
    """The body of the `## title` section, up to the next `## ` heading."""
    match = re.search(rf"^## {re.escape(title)}\s*$(?P<body>.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/hazard-log.md has no '## {title}' section"
    return match.group("body")


def parse_hazards(text: str) -> list[Hazard]:
    """Every `### H-NN` section with its fields; a value may run on over indented lines."""
    hazards: list[Hazard] = []
    current: Hazard | None = None
    last_field: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        heading = HEADING.match(line)
        if heading:
            current = Hazard(heading.group(1), heading.group(2).strip(), number, {})
            hazards.append(current)
            last_field = None
            continue
        if line.startswith(("## ", "### ")):
            current = None  # a heading that is not a hazard ends the hazard before it
            continue
        if current is None:
            continue
        field = FIELD.match(line)
        if field:
            name = field.group("name")
            assert name not in current.fields, f"{current.id}: field '{name}' given twice (line {number})"
            current.fields[name] = field.group("value").strip()
            last_field = name
        elif line.startswith("  ") and line.strip() and last_field:
            current.fields[last_field] += " " + line.strip()
        elif line.strip():
            raise AssertionError(f"{current.id}: line {number} is neither a field nor its continuation: {line!r}")
    return hazards


def parse_risk(hazard: Hazard, field: str) -> Risk:
    value = hazard.fields[field]
    match = RISK.match(value)
    assert match, (f"{hazard.id} {field}: {value!r} is not "
                   "'severity N Name x likelihood N Name = risk N Name'")
    s, l, r = int(match["s"]), int(match["l"]), int(match["r"])
    assert match["s_name"] == SEVERITY[s], f"{hazard.id} {field}: severity {s} is {SEVERITY[s]}, not {match['s_name']}"
    assert match["l_name"] == LIKELIHOOD[l], f"{hazard.id} {field}: likelihood {l} is {LIKELIHOOD[l]}"
    assert match["r_name"] == RATING[r], f"{hazard.id} {field}: risk {r} is {RATING[r]}, not {match['r_name']}"
    assert r == DCB0129_MATRIX[l][s - 1], (
        f"{hazard.id} {field}: severity {s} x likelihood {l} is risk {DCB0129_MATRIX[l][s - 1]} on the matrix, not {r}")
    return Risk(s, l, r)


def named_tests(hazard: Hazard) -> list[str]:
    return re.findall(r"`([^`]+)`", hazard.fields["Test controls"])


@lru_cache(maxsize=None)
def defined_names(path: Path) -> dict[str, ast.AST]:
    """Module-level functions and classes of a test file (classes keep their own names)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return {node.name: node for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def resolve(ref: str) -> str | None:
    """None when `ref` names a file that exists and every `::name` in it; else what is wrong."""
    match = TEST_REF.match(ref)
    if not match:
        return f"'{ref}' is not a test reference (tests/...py or benchmarks/...py, optionally ::name, or scripts/...)"
    path = ROOT / match["path"]
    if not path.is_file():
        return f"{match['path']} does not exist"
    names = [n for n in match["names"].split("::") if n]
    if not names:
        return None
    if path.suffix != ".py":
        return f"{match['path']} is a script: name it without ::"
    scope = defined_names(path)
    for name in names:
        node = scope.get(name)
        if node is None:
            return f"{match['path']} has no '{name}'"
        scope = {child.name: child for child in getattr(node, "body", [])
                 if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    return None


HAZARDS = parse_hazards(log_text())
IDS = [h.id for h in HAZARDS]


def test_the_log_has_hazards_with_unique_ids_in_order():
    assert len(HAZARDS) >= 20
    duplicates = sorted({i for i in IDS if IDS.count(i) > 1})
    assert not duplicates, f"hazard ids used twice: {duplicates}"
    numbers = [int(i[2:]) for i in IDS]
    assert numbers == sorted(numbers), "hazards are listed in id order"


def test_no_hazard_is_left_in_the_old_table_shape():
    old_rows = [line for line in log_text().splitlines() if re.match(r"^\|\s*H-\d", line)]
    assert not old_rows, f"table rows still to convert to sections: {[r[:12] for r in old_rows]}"


def test_the_matrix_in_the_document_is_dcb0129s():
    body = section(log_text(), "Risk matrix")
    rows = {}
    for line in body.splitlines():
        cells = [c.strip(" *") for c in line.strip().strip("|").split("|")]
        lead = re.match(r"^([1-5]) ", cells[0]) if len(cells) == 6 else None
        if lead:
            rows[int(lead.group(1))] = tuple(int(c.split()[0]) for c in cells[1:])
    assert rows == DCB0129_MATRIX


@pytest.mark.parametrize("hazard", HAZARDS, ids=IDS)
def test_every_field_is_there_and_filled(hazard):
    assert hazard.title
    missing = [f for f in FIELDS if f not in hazard.fields]
    unknown = [f for f in hazard.fields if f not in FIELDS]
    empty = [f for f in FIELDS if f in hazard.fields and not hazard.fields[f].strip()]
    assert not (missing or unknown or empty), f"{hazard.id}: missing {missing}, unknown {unknown}, empty {empty}"
    assert list(hazard.fields) == list(FIELDS), f"{hazard.id}: fields in the log's order {FIELDS}"


@pytest.mark.parametrize("hazard", HAZARDS, ids=IDS)
def test_risks_are_on_the_matrix_and_residual_is_not_higher(hazard):
    initial = parse_risk(hazard, "Initial risk")
    residual = parse_risk(hazard, "Residual risk")
    assert residual.rating <= initial.rating, f"{hazard.id}: residual risk above the initial risk"
    assert residual.severity <= initial.severity, f"{hazard.id}: controls do not make the harm worse"
    assert residual.likelihood <= initial.likelihood, f"{hazard.id}: controls do not make it more likely"


@pytest.mark.parametrize("hazard", HAZARDS, ids=IDS)
def test_status_agrees_with_the_residual_risk(hazard):
    status = hazard.fields["Status"].split()[0].rstrip(".:;,")
    assert status in STATUSES, f"{hazard.id}: status '{status}' is not one of {STATUSES}"
    residual = parse_risk(hazard, "Residual risk")
    if status == "Closed":
        assert residual.rating <= 2, f"{hazard.id}: only a residual risk of 1 or 2 is acceptable to close"
    if residual.rating >= 4:
        assert status == "Open", f"{hazard.id}: a residual risk of {residual.rating} needs more controls (open)"
    if status == "Transferred":
        assert not hazard.fields["Practice controls (DCB0160)"].lower().startswith("none"), (
            f"{hazard.id}: transferred to the practice, so it must say what the practice does")
    owned_by_practice = hazard.fields["Owner"].startswith("Practice")
    assert owned_by_practice == (status == "Transferred"), (
        f"{hazard.id}: a transferred hazard is owned by the practice's CSO, any other by the manufacturer's")


@pytest.mark.parametrize("hazard", HAZARDS, ids=IDS)
def test_every_named_test_exists(hazard):
    refs = named_tests(hazard)
    assert refs, f"{hazard.id}: names no test that controls it"
    problems = [p for p in map(resolve, refs) if p]
    assert not problems, f"{hazard.id}: " + "; ".join(problems)


def test_the_practice_summary_names_every_hazard_handed_to_the_practice():
    summary = section(log_text(), "Controls handed to the practice (DCB0160)")
    named = set(re.findall(r"H-\d{2,3}", summary))
    transferred = {h.id for h in HAZARDS if h.fields["Status"].startswith("Transferred")}
    assert transferred <= named, f"not in the practice summary: {sorted(transferred - named)}"
    assert named <= set(IDS), f"the summary names hazards that are not in the log: {sorted(named - set(IDS))}"


def test_relative_links_point_at_files_that_exist():
    links = re.findall(r"\]\((?!https?:|#)([^)#]+)", log_text())
    assert links
    missing = [link for link in links if not (LOG.parent / link).exists()]
    assert not missing, f"broken links: {missing}"


# The checker itself, on small logs: it must catch what it claims to catch.

GOOD = """### H-99 Example
- **Hazard:** h
- **Cause:** c
- **Effect:** e
- **Potential harm:** p
- **Initial risk:** severity 4 Major x likelihood 3 Medium = risk 3 Medium
- **Design controls:** d
- **Test controls:** `tests/test_hazard_log.py::test_every_named_test_exists`
- **Training controls:** t
- **Business process controls:** b
- **Residual risk:** severity 4 Major x likelihood 1 Very low = risk 2 Low
- **Owner:** o
- **Status:** Closed
- **Practice controls (DCB0160):** none
"""


def test_the_checker_reads_a_good_entry():
    (hazard,) = parse_hazards(GOOD)
    assert list(hazard.fields) == list(FIELDS)
    assert parse_risk(hazard, "Initial risk") == Risk(4, 3, 3)
    assert parse_risk(hazard, "Residual risk") == Risk(4, 1, 2)
    assert [resolve(r) for r in named_tests(hazard)] == [None]


def test_the_checker_refuses_a_rating_the_matrix_does_not_give():
    (hazard,) = parse_hazards(GOOD.replace("= risk 3 Medium", "= risk 2 Low"))
    with pytest.raises(AssertionError, match="is risk 3 on the matrix"):
        parse_risk(hazard, "Initial risk")


def test_the_checker_refuses_a_mislabelled_category():
    (hazard,) = parse_hazards(GOOD.replace("severity 4 Major x likelihood 3", "severity 4 Minor x likelihood 3"))
    with pytest.raises(AssertionError, match="severity 4 is Major"):
        parse_risk(hazard, "Initial risk")


def test_the_checker_finds_missing_tests_and_names():
    assert resolve("tests/no_such_file.py") == "tests/no_such_file.py does not exist"
    assert resolve("tests/test_hazard_log.py::test_no_such_test") == "tests/test_hazard_log.py has no 'test_no_such_test'"
    assert "not a test reference" in resolve("tests/test_*.py")
    assert "not a test reference" in resolve("docs/hazard-log.md")
    assert resolve("scripts/run-tests") is None  # a script that runs tests
    assert resolve("scripts/run-tests::anything") == "scripts/run-tests is a script: name it without ::"
    assert resolve("tests/test_hazard_log.py::Hazard") is None  # a class
    assert resolve("tests/test_hazard_log.py::Hazard::nothing") == "tests/test_hazard_log.py has no 'nothing'"


def test_the_checker_refuses_a_stray_line_and_a_repeated_field():
    with pytest.raises(AssertionError, match="neither a field"):
        parse_hazards(GOOD + "stray words\n")
    with pytest.raises(AssertionError, match="given twice"):
        parse_hazards(GOOD + "- **Owner:** someone else\n")
