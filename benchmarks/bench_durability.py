"""The cost per commit of not losing an acknowledged write (docs/adr/0007-no-silent-loss.md),
each figure beside the plain WAL commit (the floor: what main did) measured in the same run.

    python benchmarks/bench_durability.py [--commits 200] [--dir FOLDER]

Options measured, each on a real encrypted register file on the same disk:
  wal           journal_mode=WAL, synchronous=FULL, no seal (the floor; loses commits silently
                when the -wal file is damaged or lost after a crash)
  wal+seal      the same, plus register.seal rewritten atomically after each commit (chosen)
  delete        journal_mode=DELETE, synchronous=FULL (rollback journal; readers wait for writers)
  truncate      journal_mode=TRUNCATE, synchronous=FULL
and one fsync of a 4 KiB file, the disk's own floor. Use a folder on the disk the register
will live on (tmpfs makes fsync free and every figure meaningless).
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from gp_optout_desktop.store import database, seal


def _fresh(folder: Path, journal: str, with_seal: bool) -> database.Database:
    folder.mkdir(parents=True)
    db_path = folder / database.DB_NAME
    conn = database.connect(db_path, secrets.token_bytes(32), create=True)
    conn.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("CREATE TABLE rows(id INTEGER PRIMARY KEY, at TEXT, detail TEXT)")
    if journal != "wal":
        conn.execute(f"PRAGMA journal_mode = {journal.upper()}")
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == journal
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    sealed = seal.first(conn, folder) if with_seal else None
    return database.Database(conn, db_path, sealed)


def per_commit(db: database.Database, commits: int) -> list[float]:
    times = []
    for i in range(commits):
        start = time.perf_counter()
        with db.transaction() as conn:  # one small write, as an objection's audit row is
            conn.execute("INSERT INTO rows(at, detail) VALUES (?, ?)", (time.time(), f"objection {i} " * 8))
        times.append(time.perf_counter() - start)
    return times


def fsync_floor(folder: Path, commits: int) -> list[float]:
    path = folder / "fsync-probe"
    times = []
    with open(path, "wb") as fh:
        for _ in range(commits):
            start = time.perf_counter()
            fh.seek(0)
            fh.write(os.urandom(4096))
            fh.flush()
            os.fsync(fh.fileno())
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=200)
    parser.add_argument("--dir", type=Path, default=None, help="a folder on the register's disk (default: temp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-durability-", dir=args.dir) as tmp:
        root = Path(tmp)
        results = {"fsync 4 KiB (disk floor)": fsync_floor(root, args.commits)}
        for name, journal, with_seal in (("wal (floor: main)", "wal", False), ("wal+seal (chosen)", "wal", True),
                                         ("delete", "delete", False), ("truncate", "truncate", False)):
            db = _fresh(root / name.split()[0], journal, with_seal)
            try:
                per_commit(db, 10)  # warm up
                results[name] = per_commit(db, args.commits)
            finally:
                db.close()
        # What the seal adds to every unlock: its check, beside opening the file (connect, keying, first read).
        key = secrets.token_bytes(32)
        folder = root / "open"
        folder.mkdir()
        conn = database.connect(folder / database.DB_NAME, key, create=True)
        conn.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        seal.first(conn, folder)
        conn.close()
        opens, checks = [], []
        for _ in range(20):
            start = time.perf_counter()
            conn = database.connect(folder / database.DB_NAME, key)
            opened = time.perf_counter()
            seal.check(conn, folder)
            checks.append(time.perf_counter() - opened)
            opens.append(opened - start)
            conn.close()
    floor = statistics.median(results["wal (floor: main)"])
    print(f"Per commit, median and 90th percentile of {args.commits} (ms), and the median beside the plain WAL commit:")
    for name, times in results.items():
        median = statistics.median(times)
        p90 = sorted(times)[int(len(times) * 0.9)]
        print(f"  {name:<26} {median * 1000:7.2f}  p90 {p90 * 1000:7.2f}   x{median / floor:4.2f} of wal")
    print(f"At unlock: the seal check {statistics.median(checks) * 1000:.2f} ms, beside opening the encrypted file "
          f"{statistics.median(opens) * 1000:.2f} ms (median of 20)")


if __name__ == "__main__":
    main()
