"""Helpers shared by the benchmarks: timing, percentiles, sizes, and one result line per
figure (the figure beside its fair floor measured in the same run, the ratio and the target).

Each ``report`` both prints the line and appends it as JSON to the file named by
``BENCH_RESULTS`` (set by scripts/run-benchmarks), which benchmarks/summary.py turns into
one table and one JSON file; a missed target never stops a run.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
# BENCH_CODE=/path/to/another/checkout measures that checkout's code (a before/after figure).
sys.path.insert(0, str(Path(os.environ.get("BENCH_CODE") or ROOT)))


def patients_size(default: int = 1_000_000) -> int:
    """The large register's size: BENCH_PATIENTS (e.g. 100000 for a quick run), else 1,000,000,
    or 100,000 with BENCH_QUICK=1."""
    if os.environ.get("BENCH_PATIENTS"):
        return int(os.environ["BENCH_PATIENTS"].replace("_", "").replace(",", ""))
    return 100_000 if os.environ.get("BENCH_QUICK") else default


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[18] if len(samples) >= 20 else max(samples)


def target_text(limit: float | None, ratio: float | None, unit: str = "s") -> str:
    parts = []
    if limit is not None:
        parts.append(f"<= {fmt(limit, unit)}")
    if ratio is not None:
        parts.append(f"<= {ratio:g}x floor")
    return " and ".join(parts) or "(none)"


def report(name: str, value: float, floor: float | None, *, limit: float | None = None,
           ratio: float | None = None, unit: str = "s", note: str = "") -> bool:
    """One figure beside its fair floor. ``limit``: an absolute target (same unit as value);
    ``ratio``: the most value/floor may be. Returns whether every given target was met."""
    r = value / floor if floor else None
    met = (limit is None or value <= limit) and (ratio is None or (r is not None and r <= ratio))
    has_target = limit is not None or ratio is not None
    verdict = ("met" if met else "MISSED") if has_target else "-"
    floor_text = fmt(floor, unit) if floor is not None else "-"
    ratio_text = f"{r:4.2f}x" if r is not None else "   - "
    print(f"{name:<60} {fmt(value, unit):>10}   floor {floor_text:>10}  {ratio_text}   target "
          f"{target_text(limit, ratio, unit)}: {verdict}" + (f"   ({note})" if note else ""), flush=True)
    path = os.environ.get("BENCH_RESULTS")
    if path:
        record = {"bench": Path(sys.argv[0]).stem, "figure": name, "value": value, "unit": unit, "floor": floor,
                  "ratio": r, "target": target_text(limit, ratio, unit) if has_target else "",
                  "met": met if has_target else None, "note": note}
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
    return met


def fmt(value: float | None, unit: str = "s") -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "ms":
        return f"{value:.1f} ms"
    return f"{value:.0f} {unit}"


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} cores, load average {load:.2f} at start"
