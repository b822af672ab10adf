"""Mutation testing of the core (issue 16, ADR 0012): runs mutmut over each configured module
with only the tests that exercise it, prints the score per module and every surviving mutant
(file:line and the diff). Started by scripts/run-mutation, which sets up the venv first.

    scripts/run-mutation [--jobs N] [module-or-prefix ...]

A module is a key of MODULES below ("domain/nhs_number.py", "permissions", ...); a prefix
("domain/", "exclusion/", "store/") selects every module under it. With none, all run.
Exit status: 0 when every module run reaches THRESHOLD, 1 when one does not, 2 on a usage
error, 3 when mutmut itself could not run a module (its log is named).

Each module runs in its own scratch copy of the project under build/mutation/<module>/, so
nothing in the work tree is ever mutated, and so each module's stats and clean run use only
its own tests. mutmut then runs, for each mutant, only those of these tests that reached the
mutated function (its per-function trace), with -x, forked from a warm process.
"""
from __future__ import annotations

import argparse
import ast
import concurrent.futures
import difflib
import fnmatch
import functools
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = "gp_optout_desktop"
SCRATCH = ROOT / "build" / "mutation"
THRESHOLD = 90.0


@dataclass(frozen=True)
class Module:
    files: tuple[str, ...]           # under gp_optout_desktop/
    tests: tuple[str, ...]           # test files (or folders) that exercise it
    functions: tuple[str, ...] = ()  # only these functions ("Class.method" or "func"); () = all
    extra_tests: tuple[str, ...] = field(default=())  # filled from tests/mutation/ at run time


def _m(files, tests, functions=()):
    return Module(tuple(files.split()), tuple(tests.split()), tuple(functions.split()) if functions else ())


# Which tests exercise which module. Kept small on purpose: a mutant is run only against
# these (and of these only the ones that reached the mutated function), so a test that
# kills mutants of a module must be listed here or be named for the module
# (test_<module with / as _, no .py>_mutants.py, e.g. tests/mutation/test_domain_nhs_number_mutants.py
# or tests/exclusion/test_exclusion_state_mutants.py), which is picked up without listing.
D, X, S = "tests/domain/", "tests/exclusion/", "tests/store/"
MODULES: dict[str, Module] = {
    "domain/acting_for.py": _m("domain/acting_for.py", f"{D}test_acting_for.py"),
    "domain/audit_words.py": _m("domain/audit_words.py", "tests/coding/test_attributable.py"),
    "domain/codes.py": _m("domain/codes.py", f"{D}test_codes_and_roles.py {D}test_events.py {D}test_in_force.py "
                          f"{D}test_extraction_effect.py tests/services/test_code_table.py"),
    "domain/coding.py": _m("domain/coding.py", "tests/coding/test_worklist.py tests/coding/test_reconciliation_rule.py "
                           "tests/coding/test_practice_wide.py"),
    "domain/errors.py": _m("domain/errors.py", f"{D}test_nhs_number.py {D}test_typed_date.py "
                           "tests/services/test_objections.py"),
    "domain/events.py": _m("domain/events.py", f"{D}test_events.py {D}test_in_force.py {D}test_extraction_effect.py "
                           "tests/services/test_objections.py"),
    "domain/exclusion_rules.py": _m("domain/exclusion_rules.py", f"{D}test_extraction_effect.py "
                                    f"{X}test_exclusion_consult.py {X}test_exclusion_format.py "
                                    f"{X}test_exclusion_service.py"),
    "domain/import_rows.py": _m("domain/import_rows.py", "tests/services/test_import.py tests/coding/test_reconcile.py "
                                "tests/coding/test_reconciliation_rule.py"),
    "domain/in_force.py": _m("domain/in_force.py", f"{D}test_in_force.py"),
    "domain/nhs_number.py": _m("domain/nhs_number.py", f"{D}test_nhs_number.py"),
    "domain/ods.py": _m("domain/ods.py", f"{D}test_postcode.py"),
    "domain/patient.py": _m("domain/patient.py", f"{D}test_acting_for.py tests/services/test_objections.py"),
    "domain/postcode.py": _m("domain/postcode.py", f"{D}test_postcode.py"),
    "domain/practice_list.py": _m("domain/practice_list.py", "tests/services/test_practice_list.py"),
    "domain/practice_policy.py": _m("domain/practice_policy.py", f"{X}test_exclusion_property.py "
                                    f"{X}test_exclusion_cli_register.py tests/coding/test_practice_wide.py"),
    "domain/reconciliation.py": _m("domain/reconciliation.py", "tests/coding/test_reconciliation_rule.py "
                                   "tests/coding/test_reconcile.py"),
    "domain/typed_date.py": _m("domain/typed_date.py", f"{D}test_typed_date.py"),
    "domain/uk_time.py": _m("domain/uk_time.py", f"{D}test_uk_time.py"),
    "exclusion/cohort.py": _m("exclusion/cohort.py", f"{X}test_exclusion_service.py {X}test_exclusion_property.py"),
    "exclusion/consult.py": _m("exclusion/consult.py", f"{X}test_exclusion_consult.py "
                               f"{X}test_exclusion_strict_consult.py {X}test_exclusion_property.py"),
    "exclusion/errors.py": _m("exclusion/errors.py", f"{X}test_exclusion_faults.py {X}test_exclusion_writer_reader.py"),
    "exclusion/export_lock.py": _m("exclusion/export_lock.py", f"{X}test_exclusion_lock.py"),
    "exclusion/format.py": _m("exclusion/format.py", f"{X}test_exclusion_format.py {X}test_exclusion_spec_example.py "
                              f"{X}test_exclusion_writer_reader.py"),
    "exclusion/fsutil.py": _m("exclusion/fsutil.py", f"{X}test_exclusion_faults.py {X}test_exclusion_writer_reader.py"),
    "exclusion/reader.py": _m("exclusion/reader.py", f"{X}test_exclusion_writer_reader.py "
                              f"{X}test_exclusion_strict_consult.py {X}test_exclusion_spec_example.py "
                              f"{X}test_exclusion_faults.py"),
    "exclusion/signing.py": _m("exclusion/signing.py", f"{X}test_exclusion_signing.py {X}test_exclusion_writer_reader.py"),
    "exclusion/state.py": _m("exclusion/state.py", f"{X}test_exclusion_consult.py {X}test_exclusion_strict_consult.py"),
    "exclusion/writer.py": _m("exclusion/writer.py", f"{X}test_exclusion_writer_reader.py {X}test_exclusion_faults.py "
                              f"{X}test_exclusion_lock.py"),
    "store/audit.py": _m("store/audit.py", f"{S}test_audit_chain.py {S}test_insider_drills.py {S}test_letters_attested.py "
                         f"{S}test_integrity_checks.py {S}test_audit_rewrite_reasons.py"),
    "store/backup.py": _m("store/backup.py", f"{S}test_backup_restore.py {S}test_backup_windows_fsync.py "
                          f"{S}test_restore_credentials.py {S}test_backup_verify_content.py "
                          f"{S}test_problems_logged.py {S}test_backup_check_apart.py"),
    "store/keyfile.py": _m("store/keyfile.py", f"{S}test_keyfile_concurrency.py {S}test_keyfile_merge_hierarchy.py "
                           f"{S}test_keyfile_schema.py {S}test_key_hierarchy.py {S}test_keys_and_unlock.py "
                           f"{S}test_key_rewrap.py tests/services/test_users_change_password.py"),
    # The services' permission checks: the role table and the two gates every service uses.
    "permissions": _m("domain/roles.py services/session.py",
                      "tests/services/test_permissions.py tests/domain/test_codes_and_roles.py "
                      "tests/services/test_every_write_attributed.py tests/services/test_role_action_matrix.py",
                      functions="roles.* Session.require Session.write"),
}

# What a mutant's exit code means (mutmut's own table, stats.status_by_exit_code), reduced to
# what counts for the score: killed by a failing test, or by the test run timing out or
# crashing. "no tests" (no listed test reached the function) counts as not killed.
KILLED = {1, 3, 36, -24, 24, 152, 255, -11, -9, 37}
SURVIVED = {0}
NO_TESTS = {5, 33}
NOT_RUN = {None, 2, 34}


def slug(name: str) -> str:
    return name.replace("/", "_").replace(".", "_")


def with_mutation_tests(name: str, module: Module) -> Module:
    pattern = f"test_{slug(name.removesuffix('.py'))}_mutants*.py"
    # In tests/mutation/, or beside the tests they belong with (e.g. tests/exclusion/ for its fixtures).
    extra = tuple(sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob(pattern)))
    return Module(module.files, module.tests, module.functions, extra)


def select(args: list[str]) -> list[str]:
    if not args:
        return list(MODULES)
    chosen: list[str] = []
    for arg in args:
        arg = arg.removeprefix(f"{PKG}/")
        hits = [n for n in MODULES if n == arg or n.startswith(arg.rstrip("/") + "/")]
        if not hits:
            raise SystemExit(f"run-mutation: no module {arg!r}; modules are:\n  " + "\n  ".join(MODULES))
        chosen += [h for h in hits if h not in chosen]
    return chosen


def mutant_globs(module: Module) -> list[str]:
    """mutmut's names for the mutants of the chosen functions (its own filter syntax)."""
    globs = []
    for spec in module.functions:
        owner, _, func = spec.rpartition(".")
        if func == "*":     # every function of a file: "roles.*"
            path = next(f for f in module.files if Path(f).stem == owner)
            globs.append(f"{PKG}.{path[:-3].replace('/', '.')}.*")
            continue
        path = next(f for f in module.files if _defines(f, owner or func))
        mod = f"{PKG}.{path[:-3].replace('/', '.')}"
        globs.append(f"{mod}.x\u01c1{owner}\u01c1{func}*" if owner else f"{mod}.x_{func}*")
    return globs


def _defines(rel: str, name: str) -> bool:
    """Whether the file defines a class or a module-level function of that name."""
    tree = ast.parse((ROOT / PKG / rel).read_text())
    kinds = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return any(isinstance(n, kinds) and n.name == name for n in tree.body)


def prepare(name: str, module: Module) -> Path:
    """A fresh scratch copy: the package, the tests, the docs the tests read, and a
    pyproject.toml with this module's mutmut settings (the project's own stays untouched)."""
    work = SCRATCH / slug(name)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", ".pytest_cache")
    shutil.copytree(ROOT / PKG, work / PKG, ignore=ignore)
    shutil.copytree(ROOT / "tests", work / "tests", ignore=ignore)
    (work / "docs").mkdir()
    for doc in (ROOT / "docs").glob("*.md"):
        shutil.copy2(doc, work / "docs" / doc.name)
    shutil.copytree(ROOT / "docs" / "adr", work / "docs" / "adr")
    shutil.copy2(ROOT / "README.md", work / "README.md")
    shutil.copy2(ROOT / "scripts" / "mutation_order.py", work / "mutation_order.py")
    for rel in module.files:   # what this run mutates, so --recheck can tell when it changed
        (work / "original" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / PKG / rel, work / "original" / rel)
    tests = list(module.tests) + list(module.extra_tests)
    settings = {
        "source_paths": [PKG],
        "only_mutate": [f"{PKG}/{f}" for f in module.files],
        "also_copy": ["docs", "README.md", "mutation_order.py"],
        # -p no:cacheprovider: no .pytest_cache; the per-mutant run adds -x itself.
        # mutation_order: each mutant's tests fastest first (scripts/mutation_order.py).
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-p", "mutation_order"],
        "pytest_add_cli_args_test_selection": tests,
        "use_git_change_detection": False,
    }
    text = (ROOT / "pyproject.toml").read_text() + "\n[tool.mutmut]\n" + "".join(
        f"{k} = {json.dumps(v)}\n" for k, v in settings.items())
    (work / "pyproject.toml").write_text(text)
    return work


def test_env(work: Path) -> dict[str, str]:
    """What the mutants' test runs see. Two things that cost time per register and decide
    nothing a mutant changes: Argon2 at its floor (GP_OPTOUT_TEST_KDF=floor, read only by
    tests/conftest.py: still real Argon2id), and the tests' temporary folders (each test's
    register) on a RAM disk when there is one, where fsync returns at once. Measured on
    store/audit.py's tests: 52 s -> 21 s for the temp folders, see docs/mutation-testing.md."""
    env = dict(os.environ, GP_OPTOUT_TEST_KDF="floor")
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        # One folder per scratch copy (its path hashed in): two work trees' runs of one module
        # must not clear each other's registers.
        copy = hashlib.sha256(str(work.resolve()).encode()).hexdigest()[:12]
        tmp = shm / f"gp-optout-mutation-{os.getuid()}" / f"{work.name}-{copy}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        env["TMPDIR"] = str(tmp)
    return env


def run_mutmut(work: Path, module: Module, jobs: int) -> tuple[int, float]:
    """mutmut's exit status, and the CPU seconds it and its mutant runs used: on the shared
    machine the wall time says more about the others' load than about the run."""
    # mutmut's own `run`, without its clean test run (scripts/mutation_mutmut.py says why).
    cmd = [sys.executable, str(ROOT / "scripts" / "mutation_mutmut.py"), "run", "--max-children", str(jobs),
           *mutant_globs(module)]
    env = test_env(work)
    try:
        with open(work / "mutmut.log", "w") as log:
            proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
            # wait4: the child's own rusage, with the mutant runs it reaped (not the other module's).
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage.ru_utime + usage.ru_stime
    finally:
        if "TMPDIR" in env:
            shutil.rmtree(env["TMPDIR"], ignore_errors=True)


def wanted(key: str, globs: list[str]) -> bool:
    return not globs or any(fnmatch.fnmatchcase(key, g) for g in globs)


def results(work: Path, module: Module) -> dict[str, dict[str, int | None]]:
    globs = mutant_globs(module)
    out = {}
    for rel in module.files:
        meta = work / "mutants" / PKG / (rel + ".meta")
        codes = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
        out[rel] = {k: v for k, v in codes.items() if wanted(k, globs)}
    return out


def spent(work: Path, module: Module, codes: dict[str, dict[str, int | None]]) -> str:
    """Where the module's time went: mutmut's wall time per mutant, killed against not killed,
    and how many tests the killed ones ran before one failed (mutation_order's log)."""
    durations: dict[str, float] = {}
    for rel in module.files:
        meta = work / "mutants" / PKG / (rel + ".meta")
        if meta.exists():
            durations.update(json.loads(meta.read_text()).get("durations_by_key", {}))
    killed = [durations.get(k, 0.0) for by in codes.values() for k, c in by.items() if c in KILLED]
    alive = [durations.get(k, 0.0) for by in codes.values() for k, c in by.items() if c in SURVIVED]
    tests = []
    try:
        for line in (work / "mutants" / "mutation-runs.log").read_text().splitlines():
            fields = line.split("\t")
            if len(fields) == 5 and fields[1] == "1":
                tests.append(int(fields[2]))
    except (OSError, ValueError):
        pass

    def each(xs):
        return f"{sum(xs):.0f}s ({sum(xs) / len(xs):.2f}s each)" if xs else "0s"
    ran = f"; a killed mutant ran {sum(tests) / len(tests):.1f} test(s) on average" if tests else ""
    steps = ""
    try:   # scripts/mutation_mutmut.py's times of mutmut's steps before the first mutant
        pairs = [ln.split("\t") for ln in (work / "mutation-phases.log").read_text().splitlines()]
        steps = "\n  before the first mutant: " + ", ".join(f"{step.replace('_', ' ')} {secs}s" for step, secs in pairs)
    except (OSError, ValueError):
        pass
    return (f"  time in mutants: {len(killed)} killed {each(killed)}, {len(alive)} survived {each(alive)}{ran}"
            f"{steps}")


HUNK = re.compile(r"^@@ -(\d+)")


@functools.lru_cache(maxsize=8)
def _mutated(path: Path) -> tuple[str, dict[str, ast.AST]]:
    """The mutated copy's text and its functions by name, parsed once per report (the file holds
    every mutant: parsing it again for each survivor took about a second each under load)."""
    source = path.read_text()
    functions = {node.name: node for node in ast.walk(ast.parse(source))
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return source, functions


def show(work: Path, rel: str, key: str) -> str:
    """The mutant against the original function as a unified diff (what `mutmut show`
    prints), read from the mutated copy in-process: one mutmut start per survivor would
    cost more than the listing is worth."""
    short = key.rsplit(".", 1)[1]
    base = short.split("__mutmut_")[0]
    source, functions = _mutated(work / "mutants" / PKG / rel)
    found = {name: functions[name] for name in (short, f"{base}__mutmut_orig") if name in functions}
    if len(found) != 2:
        return "(diff not found in the mutated copy)"

    def text(node):
        start = min([node.lineno] + [d.lineno for d in node.decorator_list])
        lines = source.splitlines()[start - 1:node.end_lineno]
        indent = len(lines[0]) - len(lines[0].lstrip())
        lines = [ln[indent:] for ln in lines]
        at = node.lineno - start   # the def line, after any decorators
        lines[at] = lines[at].replace(f"def {node.name}(", f"def {_plain(base)}(", 1)
        return lines

    orig, mutant = text(found[f"{base}__mutmut_orig"]), text(found[short])
    return "\n".join(difflib.unified_diff(orig, mutant, f"{PKG}/{rel}", f"{PKG}/{rel}", lineterm=""))


def _plain(base: str) -> str:
    return base.split("\u01c1")[-1] if base.startswith("x\u01c1") else base[2:]


def file_line(rel: str, key: str, diff: str) -> int | None:
    """The line in the real file: mutmut's diff counts from the function's first line."""
    name = key.rsplit(".", 1)[1].split("__mutmut_")[0]
    if name.startswith("x\u01c1"):
        _, cls, func = name.split("\u01c1")
    else:
        cls, func = None, name[2:]
    tree = ast.parse((ROOT / PKG / rel).read_text())
    scope = tree.body
    if cls:
        scope = next((n.body for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls), [])
    node = next((n for n in scope if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == func), None)
    if node is None:
        return None
    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
    offset = None
    hunk_start = None
    for line in diff.splitlines():
        m = HUNK.match(line)
        if m:
            hunk_start, offset = int(m.group(1)), 0
            continue
        if hunk_start is None or line.startswith(("---", "+++")):
            continue
        if line.startswith("-"):
            return start + hunk_start - 1 + offset
        if not line.startswith("+"):
            offset += 1
    return None


def report(name: str, work: Path, module: Module, codes: dict[str, dict[str, int | None]],
           out=None) -> tuple[int, int]:
    out = out or sys.stdout
    killed = total = 0
    survivors = []
    for rel, by_key in codes.items():
        for key, code in by_key.items():
            if code in NOT_RUN:
                continue
            total += 1
            if code in KILLED:
                killed += 1
            else:
                survivors.append((rel, key, code))
    pct = 100.0 * killed / total if total else 100.0
    mark = "ok" if pct >= THRESHOLD else "UNDER 90%"
    print(f"{name:28} {killed:4}/{total:<4} killed  {pct:5.1f}%  {mark}", file=out)
    for rel, key, code in survivors:
        diff = show(work, rel, key)
        line = file_line(rel, key, diff)
        why = "survived" if code in SURVIVED else "no test reached it" if code in NO_TESTS else f"exit {code}"
        print(f"  {PKG}/{rel}:{line if line else '?'}  {why}  ({key.rsplit('.', 1)[1]})", file=out)
        body = [ln for ln in diff.splitlines() if not ln.startswith("#")]
        print("    " + "\n    ".join(body), file=out)
    return killed, total


def recheck(name: str, module: Module) -> tuple[int, int] | None:
    """The last run's survivors of ``name`` against the tests as they are now, without a new
    run: mutmut's mutated copy is kept in build/mutation/<module>/mutants/ and selects a
    mutant by the MUTANT_UNDER_TEST variable, so each survivor costs one pytest run over the
    module's test files (-x). Valid while the module's source is what that run mutated."""
    work = SCRATCH / slug(name)
    codes = results(work, module) if (work / "mutants").is_dir() else {}
    if not any(codes.values()):
        print(f"{name:28} no earlier run in {work} to recheck")
        return None
    for rel in module.files:
        kept = work / "original" / rel
        if kept.exists() and kept.read_bytes() != (ROOT / PKG / rel).read_bytes():
            print(f"  {PKG}/{rel} changed since that run: its mutants are of the old code (run it again)")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", ".pytest_cache")
    shutil.copytree(ROOT / "tests", work / "mutants" / "tests", ignore=ignore, dirs_exist_ok=True)
    tests = list(module.tests) + list(module.extra_tests)
    killed = total = 0
    still = []
    for rel, by_key in codes.items():
        for key, code in by_key.items():
            if code in NOT_RUN:
                continue
            total += 1
            if code in KILLED:
                killed += 1
                continue
            env = test_env(work)
            env.update(MUTANT_UNDER_TEST=key,
                       PYTHONPATH=os.pathsep.join(filter(None, [str(work / "mutants"), env.get("PYTHONPATH")])))
            try:
                rc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                                    cwd=work / "mutants", env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, timeout=600).returncode
            except subprocess.TimeoutExpired:
                rc = 1   # the tests hung on this mutant: noticed, as mutmut counts a timeout
            if rc in (1, 3):
                killed += 1
            else:
                still.append((rel, key, 0 if rc == 0 else rc))
    pct = 100.0 * killed / total if total else 100.0
    print(f"{name:28} {killed:4}/{total:<4} killed  {pct:5.1f}%  {'ok' if pct >= THRESHOLD else 'UNDER 90%'}  (recheck)")
    for rel, key, code in still:
        diff = show(work, rel, key)
        why = "survived" if code == 0 else f"pytest exit {code}"
        print(f"  {PKG}/{rel}:{file_line(rel, key, diff) or '?'}  {why}  ({key.rsplit('.', 1)[1]})")
        print("    " + "\n    ".join(ln for ln in diff.splitlines() if not ln.startswith("#")))
    return killed, total


TIMES = SCRATCH / "times.json"   # each module's last wall time, to start the slowest first


def slowest_first(names: list[str]) -> list[str]:
    """The modules longest first (by their last run's time here when every one has one, else by
    the size of what they mutate), so that the last to finish is a short one and not
    store/keyfile.py alone on one core."""
    try:
        last = json.loads(TIMES.read_text())
    except (OSError, ValueError):
        last = {}
    if not all(n in last for n in names):
        last = {n: sum((ROOT / PKG / f).stat().st_size for f in MODULES[n].files) for n in names}
    return sorted(names, key=lambda n: last[n], reverse=True)


def remember_time(name: str, secs: float) -> None:
    with _times_lock:
        try:
            times = json.loads(TIMES.read_text())
        except (OSError, ValueError):
            times = {}
        times[name] = round(secs, 1)
        TIMES.parent.mkdir(parents=True, exist_ok=True)
        TIMES.write_text(json.dumps(times, indent=1, sort_keys=True) + "\n")


_times_lock = threading.Lock()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="run-mutation", description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="modules or prefixes (default: all): " + ", ".join(MODULES))
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("MUTATION_JOBS", "2")),
                        help="processes at once: modules side by side, or one module's mutants "
                        "(default 2, or MUTATION_JOBS)")
    parser.add_argument("--list", action="store_true", help="print the module table and exit")
    parser.add_argument("--recheck", action="store_true",
                        help="run only the last run's survivors against the tests as they are now (no new run)")
    opts = parser.parse_args(argv)
    names = select(opts.modules)
    if opts.recheck:
        rechecked = [r for r in (recheck(n, with_mutation_tests(n, MODULES[n])) for n in names) if r]
        return 1 if any(t and 100.0 * k / t < THRESHOLD for k, t in rechecked) else 0
    if opts.list:
        for n in names:
            m = with_mutation_tests(n, MODULES[n])
            print(f"{n}: {' '.join(m.files)}{' (' + ' '.join(m.functions) + ')' if m.functions else ''}")
            print("    " + " ".join(m.tests + m.extra_tests))
        return 0
    started = time.monotonic()
    scores: list[tuple[str, int, int, float, float]] = []
    failed = []
    # Whole modules side by side, up to --jobs at once, each with its share of the mutant runs:
    # mutmut's own steps before its first mutant (copying, generating the mutants, the stats
    # run) use one core, so one module at a time left the other idle for minutes in all.
    at_once = max(1, min(opts.jobs, len(names)))
    children = max(1, opts.jobs // at_once)
    printing = threading.Lock()

    def one(n: str) -> None:
        module = with_mutation_tests(n, MODULES[n])
        t0 = time.monotonic()
        with printing:
            print(f"--- {n}: mutating {', '.join(module.files)} against {len(module.tests + module.extra_tests)} "
                  "test file(s)", flush=True)
        work = prepare(n, module)
        rc, cpu = run_mutmut(work, module, children)
        codes = results(work, module)
        out = io.StringIO()
        metas = [work / "mutants" / PKG / (rel + ".meta") for rel in module.files]
        if all(m.exists() for m in metas) and not any(codes.values()):
            # e.g. exclusion/errors.py: exception classes only; mutmut mutates function bodies.
            print(f"{n:28}    0/0    no mutants (no function body to mutate)", file=out)
            scores.append((n, 0, 0, time.monotonic() - t0, cpu))
        elif rc != 0 or not any(codes.values()):
            print(f"  mutmut could not run {n} (exit {rc}); its log: {work / 'mutmut.log'}", file=out)
            failed.append(n)
        else:
            killed, total = report(n, work, module, codes, out)
            print(spent(work, module, codes), file=out)
            secs = time.monotonic() - t0
            scores.append((n, killed, total, secs, cpu))
            remember_time(n, secs)
        with printing:
            print(out.getvalue(), end="", flush=True)

    with concurrent.futures.ThreadPoolExecutor(at_once) as pool:
        for done in [pool.submit(one, n) for n in slowest_first(names)]:
            done.result()
    scores.sort(key=lambda s: names.index(s[0]))
    wall = time.monotonic() - started
    print("\nModule                        killed/total      score   time    CPU")
    for n, killed, total, secs, cpu in scores:
        pct = 100.0 * killed / total if total else 100.0
        print(f"{n:28} {killed:5}/{total:<5}     {pct:5.1f}%  {secs:5.0f}s {cpu:5.0f}s"
              f"{'  UNDER 90%' if pct < THRESHOLD else ''}")
    for n in failed:
        print(f"{n:28} not run (mutmut failed)")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"wall time {wall:.0f}s with {opts.jobs} job(s) ({at_once} module(s) at once, {children} mutant run(s) "
          f"each); load average now {load}")
    cpu = sum(s[4] for s in scores)
    print(f"CPU time {cpu:.0f}s in all: at least {cpu / max(1, opts.jobs):.0f}s of wall time on {opts.jobs} idle core(s)")
    if failed:
        return 3
    return 1 if any(t and 100.0 * k / t < THRESHOLD for _, k, t, _, _ in scores) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
