"""Helpers shared by the benchmarks: timing, percentiles, and the figure-beside-baseline line."""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
sys.path.insert(0, str(ROOT))


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[18] if len(samples) >= 20 else max(samples)


def report(name: str, seconds: float, baseline: float, target: str) -> None:
    """One line: the figure, the raw baseline measured in this same run, the target."""
    ratio = seconds / baseline if baseline else float("inf")
    print(f"{name:<58} {fmt(seconds):>10}   baseline {fmt(baseline):>10}  ({ratio:4.1f}x)   target {target}", flush=True)


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} cores, load average {load:.2f} at start"
