"""Reads the result lines the benchmarks appended (BENCH_RESULTS), prints one table
(figure, value, fair floor, ratio, target, met), writes the same as JSON in benchmarks/out/,
and exits 1 if any target was missed or any bench did not finish.

    python benchmarks/summary.py RESULTS.jsonl [--failed bench_x.py ...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timezone

from common import OUT, fmt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("results")
    parser.add_argument("--failed", nargs="*", default=[], help="benches that exited with an error")
    args = parser.parse_args(argv)
    rows = []
    if os.path.exists(args.results):
        with open(args.results, encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
    print()
    print(f"{'bench':<16} {'figure':<60} {'value':>10} {'floor':>10} {'ratio':>6}  {'target':<28} met")
    for r in rows:
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else "-"
        met = {True: "yes", False: "NO", None: "-"}[r["met"]]
        print(f"{r['bench']:<16} {r['figure'][:60]:<60} {fmt(r['value'], r['unit']):>10} "
              f"{fmt(r['floor'], r['unit']):>10} {ratio:>6}  {r['target'][:28]:<28} {met}")
    missed = [r for r in rows if r["met"] is False]
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = OUT / f"results-{stamp}.json"
    out.write_text(json.dumps({"when": stamp, "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
                               "cpus": os.cpu_count(), "results": rows, "failed_benches": args.failed,
                               "missed": len(missed)}, indent=1), encoding="utf-8")
    print(f"\n{len(rows)} figures, {len(missed)} targets missed"
          + (f", benches that did not finish: {', '.join(args.failed)}" if args.failed else "") + f". JSON: {out}")
    return 1 if missed or args.failed else 0


if __name__ == "__main__":
    sys.exit(main())
