"""Exclusion file benchmarks, each beside a raw baseline measured in the same run.

    python benchmarks/bench_exclusion.py [--patients N] [--no-export]

Targets (issues 3 and 13): consult of 1,000,000 candidates <= 1.5 s; export from a register
of 1,000,000 patients <= 3 s including signing and fsync, and <= 1.5x a bare SELECT of the
same rows to CSV. The register's size: --patients, else BENCH_PATIENTS, else 1,000,000.
Synthetic 999 NHS numbers only.

The export's floor is the export's own query on the register's open connection, written by
csv.writer straight from the cursor: no rules, checks, sort, signing or fsync. About 400 ms
of it at 1M is SQLCipher decrypting the patients table for the join, which the export pays
too. Measured back to back at load 2.5-2.9 (ADR 0014 addendum 4): main 845 and 784 ms
against 428 and 429 ms (1.97x, 1.82x); after (whole-column checks, a count-only re-read,
named-tuple rows, the collector paused) 592 and 613 ms against 424 and 435 ms (1.40x, 1.41x).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

from common import patients_size, report

from gp_optout_desktop.domain.exclusion_rules import EXCLUDE_LISTED, ExclusionRow
from gp_optout_desktop.domain.nhs_number import synthetic_range
from gp_optout_desktop.exclusion import signing
from gp_optout_desktop.exclusion.consult import filter_candidates
from gp_optout_desktop.exclusion.writer import write_export


TYPE1 = "827241000000103"


def timed(fn, repeat=3):
    best = None
    for _ in range(repeat):
        t = time.perf_counter()
        value = fn()
        elapsed = time.perf_counter() - t
        best = elapsed if best is None else min(best, elapsed)
    return best, value


def bench_consult(work: Path, numbers: list[str], key) -> None:
    listed = numbers[::9][:100_000]
    write_export(work / "x", [ExclusionRow(n, TYPE1, date(2024, 1, 1)) for n in listed], private_key=key,
                 practice_ods="F84003", register_revision=1, mode=EXCLUDE_LISTED, audit_chain_head="1:" + "0" * 64)
    candidates = (numbers + numbers[: 1_000_000 - len(numbers)])[:1_000_000]
    src = work / "candidates.csv"
    with open(src, "w", newline="") as f:  # a Windows tool's export: BOM and CRLF
        f.write("\ufeffPatient ID,NHS Number,Postcode\r\n")
        f.writelines(f"{i},{n},ZZ99 3VZ\r\n" for i, n in enumerate(candidates))
    listed_set = set(listed)

    def baseline():  # plain csv read + set difference + write: no verification, no NHS number checks
        with open(src, newline="", encoding="utf-8-sig") as f, open(work / "raw.csv", "w", newline="") as out:
            reader, writer = csv.reader(f), csv.writer(out)
            writer.writerow(next(reader))
            writer.writerows(r for r in reader if r[1] not in listed_set)

    base, _ = timed(baseline)
    ours, result = timed(lambda: filter_candidates(work / "x", key.public_key(), src, work / "allowed.csv",
                                                           practice_ods="F84003", state_path=work / "state.json"))
    print(f"consult: {result.candidates:,} candidates, {result.held_back:,} held back, exclusion set of {len(listed):,}")
    report("consult 1,000,000 candidates (verify signed set, validate, write)", ours, base, limit=1.5,
           note="floor: csv read, set difference, write")


def bench_writer(work: Path, numbers: list[str], key) -> None:
    rows = [ExclusionRow(n, TYPE1, date(2024, 1, 1)) for n in numbers[:100_000]]

    def baseline():
        with open(work / "plain.csv", "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(("nhs_number", "snomed_ct", "effective_date"))
            w.writerows((r.nhs_number, r.snomed, r.effective.isoformat()) for r in rows)

    revision = iter(range(2, 100))
    base, _ = timed(baseline)
    ours, result = timed(lambda: write_export(work / "w", rows, private_key=key, practice_ods="F84003",
                                               register_revision=next(revision), mode=EXCLUDE_LISTED,
                                               audit_chain_head="1:" + "0" * 64))
    print(f"writer: {result.row_count:,} rows")
    report("writer 100,000 rows (check, sign, fsync, rename, re-read)", ours, base, note="floor: plain CSV write")


def bench_export(work: Path, count: int) -> None:
    """Export from a demo register of ``count`` patients beside a raw SELECT of the same rows to CSV."""
    from gp_optout_desktop.services import demo, exclusion, setup
    from gp_optout_desktop.store import exclusion_repo

    session, _ = setup.create_register(work / "register", ods="F84003", practice=setup.practice_details(name="Bench"),
                                       user="pm", password="bench-password-1")
    t = time.perf_counter()
    stats = demo.generate(session, count)
    print(f"export: demo register of {stats['patients']:,} patients generated in {time.perf_counter() - t:.1f} s")
    exclusion.public_key_pem(session)  # the key is made once, not per export

    def baseline():  # the same rows, straight from SQL to a CSV file: no rules, checks, signing or fsync
        with session.register.reading() as conn, open(work / "raw-export.csv", "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerows(conn.execute(exclusion_repo._OBJECTORS))

    base, _ = timed(baseline)
    ours, change = timed(lambda: exclusion.export(session, work / "export"))
    record = change.data["record"]
    print(f"export: {record['rows']:,} listed, {record['without_nhs']:,} objectors without an NHS number")
    report(f"export from {stats['patients']:,} patients (rules, sign, fsync, re-read, audit)", ours, base,
           limit=3.0, ratio=1.5, note="floor: SELECT the same rows to CSV")
    session.lock()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-export", action="store_true", help="skip the export from a demo register")
    parser.add_argument("--patients", type=int, default=None, help="demo register size for the export "
                        "(default BENCH_PATIENTS, else 1,000,000; 100,000 with BENCH_QUICK=1)")
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {datetime.now(timezone.utc):%Y-%m-%d %H:%M}Z; best of 3")
    numbers = synthetic_range(900_000)
    key = signing.generate_private_key()
    with tempfile.TemporaryDirectory() as d:
        bench_consult(Path(d), numbers, key)
        bench_writer(Path(d), numbers, key)
        if not args.no_export:
            bench_export(Path(d), args.patients or patients_size())
    return 0


if __name__ == "__main__":
    sys.exit(main())
