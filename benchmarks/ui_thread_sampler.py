"""Why was the UI thread asleep in a long gap? Seen from outside the process (Linux only).

bench_ui's split of a gap ("asleep (GIL or lock)") cannot say which: a thread inside the
process that watches needs the GIL itself. This samples the bench's UI thread (its main
thread) from another process every millisecond: its state, the system call it is blocked in
(a futex's address) and the other threads of the process that are runnable. A futex inside
libpython's ``_PyRuntime`` is the GIL (take_gil's timed wait on its condition variable).

    BENCH_GAP_LOG=/tmp/gaps.log BENCH_TASKS=export python benchmarks/bench_ui.py --only stalls &
    python benchmarks/ui_thread_sampler.py sample $! /tmp/samples.log /tmp/maps.txt
    python benchmarks/ui_thread_sampler.py explain /tmp/gaps.log /tmp/samples.log /tmp/maps.txt

Used for ADR 0014 addendum 3 (the export's rows built on a niced worker thread holding the GIL
while it waited for a CPU; the UI thread asleep on the GIL meanwhile).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import Counter


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def sample(pid: int, out_path: str, maps_path: str, period: float = 0.001) -> None:
    base = f"/proc/{pid}/task"
    count = 0
    with open(out_path, "w") as out:
        while True:
            now = time.monotonic()  # the clock of time.perf_counter in the bench (Linux)
            stat = _read(f"{base}/{pid}/stat")
            if stat is None:
                return
            count += 1
            if count % 1000 == 1:  # the mappings grow as the process runs: keep the latest
                maps = _read(f"/proc/{pid}/maps")
                if maps:
                    with open(maps_path, "w") as f:
                        f.write(maps)
            state = stat[stat.rfind(")") + 2]
            call = (_read(f"{base}/{pid}/syscall") or "").split()[:2]
            runnable = []
            for tid in (_read_dir(base) or []):
                other = _read(f"{base}/{tid}/stat") if tid != str(pid) else None
                if other and other[other.rfind(")") + 2] == "R":
                    runnable.append(other[other.find("(") + 1:other.rfind(")")].replace(" ", "_"))
            out.write(f"{now:.6f} {state} {' '.join(call) or '-'} | {' '.join(runnable)}\n")
            time.sleep(period)


def _read_dir(path: str) -> list[str] | None:
    import os

    try:
        return os.listdir(path)
    except OSError:
        return None


def _gil_range(maps_path: str) -> tuple[int, int]:
    """Where _PyRuntime (which holds the GIL) is in the sampled process."""
    for line in open(maps_path):
        if "libpython" in line:
            start, offset, lib = int(line.split()[0].split("-")[0], 16), int(line.split()[2], 16), line.split()[-1]
            symbols = subprocess.run(["readelf", "-sW", lib], capture_output=True, text=True, check=True).stdout
            value, size = next((int(m.group(1), 16), int(m.group(2), 0)) for m in
                               re.finditer(r"\s([0-9a-f]+)\s+(\w+)\s+OBJECT\s+\w+\s+\w+\s+\d+\s+_PyRuntime$",
                                           symbols, re.M))
            return start - offset + value, start - offset + value + size
    return 0, 0


def _region(maps_path: str, address: int) -> str:
    for line in open(maps_path):
        fields = line.split()
        start, end = (int(x, 16) for x in fields[0].split("-"))
        if start <= address < end:
            return fields[5].rsplit("/", 1)[-1] if len(fields) > 5 else "anonymous memory"
    return "memory mapped later"


def explain(gaps_path: str, samples_path: str, maps_path: str, top: int = 5) -> None:
    low, high = _gil_range(maps_path)
    gaps = [tuple(map(float, line.split()[:2])) for line in open(gaps_path)]
    samples = [line.rstrip("\n") for line in open(samples_path)]
    for start, end in sorted(gaps, key=lambda g: g[0] - g[1])[:top]:
        ui, others = Counter(), Counter()
        for line in samples:
            head, _, rest = line.partition(" | ")
            fields = head.split()
            if not start <= float(fields[0]) <= end:
                continue
            state, call = fields[1], fields[2:]
            if state == "S" and len(call) == 2 and call[0] == "202":  # futex
                address = int(call[1], 16)
                ui["asleep on the GIL" if low <= address < high else f"asleep on a futex in {_region(maps_path, address)}"] += 1
            elif state == "S":
                ui[f"asleep in syscall {call[0] if call else '?'}"] += 1
            else:
                ui["runnable" if state == "R" else state] += 1
            others.update(rest.split())
        print(f"gap {(end - start) * 1000:.0f} ms: UI thread samples {dict(ui)}; "
              f"other threads runnable (samples) {dict(others.most_common(4))}")


if __name__ == "__main__":
    if sys.argv[1] == "sample":
        sample(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        explain(*sys.argv[2:5])
