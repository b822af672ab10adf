"""Register core: bulk creation, search, recording one objection, unlock, backup.

Each figure is printed beside a fair raw floor measured in the same run, on the same
machine, so a noisy shared machine shows in both:

- creation: the floor uses the same technique as store/bulk.insert_patients (one
  transaction, secondary indexes built after the rows, a large page cache, the real
  schema and the register's connection settings, foreign keys on) and includes building
  the rows in Python: as many patients, events, current_state and letters rows as the
  product wrote (until issue 13's creation work the floor wrote no current_state or
  letters rows and checked no foreign keys, which the product does). The product also
  draws histories at random, hashes every row for the attest digest and signs the audit row.
- search: the floor runs the same SELECT (same columns, same index order, LIMIT) as bare SQL.
- unlock: the floor is the same Argon2id derivation plus a SQLCipher open with the raw key
  and a first read: no key-file bookkeeping, audit rows or checks.
- backup: the floor is a bare sqlcipher_export plus one full integrity check of the copy.

Sizes: BENCH_PATIENTS (default 1,000,000; BENCH_QUICK=1 or --quick: 100,000).
Run: scripts/run-benchmarks (or: .venv/bin/python benchmarks/bench_register.py [--quick]).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

from common import machine, p95, patients_size, report, timed

import sqlcipher3

from gp_optout_desktop.domain import nhs_number
from gp_optout_desktop.services import backup as backup_service, demo, objections, patients, \
    session as session_service, setup
from gp_optout_desktop.store import bulk, keyfile, schema

PASSWORD = "bench-password-1"
SMALL = 10_000


def raw_connection(path: Path, key: bytes | None = None):
    conn = sqlcipher3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA key = \"x'{(key or os.urandom(32)).hex()}'\"")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


def fair_creation_floor(folder: Path, count: int, events: int, states: int = 0, letters: int = 0) -> float:
    """The same technique as bulk.insert_patients on the real schema, rows built in the timing:
    ``count`` patients, ``events`` event rows, ``states`` current_state rows and ``letters``
    letters rows, one transaction."""
    folder.mkdir(parents=True, exist_ok=True)
    conn = raw_connection(folder / "floor.db")
    conn.execute("PRAGMA temp_store = MEMORY")  # as store/database.connect sets them for the register
    conn.execute("PRAGMA foreign_keys = ON")
    for migration in schema.MIGRATIONS:
        conn.executescript(migration)
    start = time.perf_counter()
    numbers = nhs_number.synthetic_range(min(count, 900_000))
    n = len(numbers)
    address = json.dumps(["1 High Street", "Demotown"])
    now = "2026-01-01T00:00:00+00:00"
    patients_rows = [(i, numbers[i - 1] if i <= n else None, "", f"Surname{i % 5000}", "Forename",
                      f"surname{i % 5000}", f"19{30 + i % 70}-0{1 + i % 9}-1{i % 9}", address, "LS1 4AP", "LS14AP",
                      "", "", now, "floor") for i in range(1, count + 1)]
    event_rows = [(i, 1 + (i * 7) % count, "type1", "register", "2020-01-01", "2020-01-01", "desk", None, None, None,
                   None, None, i, "floor", now, None, None) for i in range(1, events + 1)]
    state_rows = [(1 + (i * 7) % count, "type1" if i <= events else "type2", 1, "2020-01-01", 1 + i % events)
                  for i in range(1, states + 1)]
    letter_rows = [(i, 1 + (i * 7) % count, i, "objection", now, "2020-02-01", None, None, 0)
                   for i in range(1, letters + 1)]
    conn.execute("BEGIN IMMEDIATE")
    with bulk.large_cache(conn):
        bulk.insert_patients(conn, patients_rows)
        bulk.insert_events(conn, event_rows)
        bulk.insert_current_state(conn, state_rows)
        bulk.insert_letters(conn, letter_rows)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def make_register(folder: Path, count: int):
    session, _ = setup.create_register(folder, ods="F84003", practice=setup.practice_details(name="Bench"),
                                       user="pm", password=PASSWORD)
    seconds, stats = timed(demo.generate, session, count)
    with session.register.reading() as conn:
        stats["events"] = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        stats["states"] = conn.execute("SELECT count(*) FROM current_state").fetchone()[0]
        stats["letters"] = conn.execute("SELECT count(*) FROM letters").fetchone()[0]
    return session, seconds, stats


def bench_create(tmp: Path, count: int, repeats: int):
    """Best of ``repeats`` for both (a shared machine's stalls are seconds long)."""
    floors, runs, session = [], [], None
    for attempt in range(repeats):
        if session is not None:
            session.lock()
        folder = tmp / f"r{count}-{attempt}"
        session, seconds, stats = make_register(folder, count)
        runs.append(seconds)
        floors.append(fair_creation_floor(tmp / f"floor{count}-{attempt}", count, stats["events"], stats["states"],
                                          stats["letters"]))
        shutil.rmtree(tmp / f"floor{count}-{attempt}", ignore_errors=True)
    report(f"create {count:,} patients + {stats['events']:,} events (best of {repeats})", min(runs), min(floors),
           ratio=2.0, note="runs " + ", ".join(f"{r:.2f}" for r in runs) + " s")
    return session, folder


SEARCH_SQL = {
    "NHS number": "SELECT {cols} FROM patients p WHERE nhs = ? LIMIT 51",
    "surname prefix": "SELECT {cols} FROM patients p WHERE surname_key >= ? AND surname_key < ?"
                      " ORDER BY surname_key, forenames LIMIT 51",
    "date of birth": "SELECT {cols} FROM patients p WHERE dob = ? ORDER BY dob, surname_key, forenames LIMIT 51",
    "postcode": "SELECT {cols} FROM patients p WHERE postcode_key >= ? AND postcode_key < ?"
                " ORDER BY postcode_key, surname_key, forenames LIMIT 51",
}
COLUMNS = ("p.id, p.nhs, p.surname, p.forenames, p.title, p.dob, p.postcode,"
           " (SELECT active FROM current_state c WHERE c.patient_id = p.id AND c.kind = 'type1'),"
           " (SELECT active FROM current_state c WHERE c.patient_id = p.id AND c.kind = 'type2')")


def bench_search(session, raw) -> None:
    """The product's find (parse, ids, rows, objects) against the same columns in one bare SELECT."""
    with session.register.reading() as conn:
        sample = conn.execute("SELECT nhs, surname, dob, postcode FROM patients WHERE nhs IS NOT NULL"
                              " ORDER BY random() LIMIT 200").fetchall()

    def bounds(text):
        return text, text + "\uffff"

    kinds = {
        "NHS number": [(nhs_number.display(r[0]), (r[0],)) for r in sample],
        "surname prefix": [(r[1][:3], bounds(r[1][:3].casefold())) for r in sample],
        "date of birth": [(r[2], (r[2],)) for r in sample],
        "postcode": [(r[3], bounds(r[3].replace(" ", "").upper())) for r in sample],
    }
    for kind, queries in kinds.items():
        sql = SEARCH_SQL[kind].format(cols=COLUMNS)
        ours = [timed(patients.find, session, q, 50)[0] for q, _ in queries]
        floor = [timed(lambda a: raw.execute(sql, a).fetchall(), args)[0] for _, args in queries]
        report(f"search p95, {kind}", p95(ours), p95(floor), limit=0.005)


def bench_record(session, tmp: Path) -> None:
    """Recording one objection: durable commit + audit row + derived state + letter queued."""
    with session.register.reading() as conn:
        ids = [r[0] for r in conn.execute(
            "SELECT p.id FROM patients p LEFT JOIN current_state c ON c.patient_id = p.id WHERE c.patient_id IS NULL"
            " LIMIT 200")]
    ours = [timed(objections.record, session, pid)[0] for pid in ids]
    raw_conn = raw_connection(tmp / "raw-rec.db")
    raw_conn.execute("CREATE TABLE e(id INTEGER PRIMARY KEY, patient INTEGER, kind TEXT, at TEXT)")

    def raw_record(i):
        raw_conn.execute("BEGIN IMMEDIATE")
        raw_conn.execute("INSERT INTO e(patient, kind, at) VALUES (?, 'type1', datetime())", (i,))
        raw_conn.execute("COMMIT")

    floor = [timed(raw_record, i)[0] for i in range(200)]
    raw_conn.close()
    report("record one objection p95 (durable commit + audit)", p95(ours), p95(floor), limit=0.030)


def unlock_times(folder: Path, data_key: bytes, repeats: int = 3) -> tuple[float, float]:
    """Median product unlock (session.unlock, then lock) and median floor (same Argon2id,
    raw-key open and a first read)."""
    ours, floor = [], []
    salt = os.urandom(16)
    for _ in range(repeats):
        start = time.perf_counter()
        session = session_service.unlock(folder, "pm", PASSWORD)
        ours.append(time.perf_counter() - start)
        session.lock()

        def bare_open():
            keyfile.derive_kek(PASSWORD, salt, keyfile.KDF_DEFAULTS)
            c = sqlcipher3.connect(str(folder / "register.db"))
            c.execute(f"PRAGMA key = \"x'{data_key.hex()}'\"")
            c.execute("SELECT count(*) FROM sqlite_master").fetchone()
            c.close()

        floor.append(timed(bare_open)[0])
    return sorted(ours)[len(ours) // 2], sorted(floor)[len(floor) // 2]


def bench_backup(session, tmp: Path, count: int) -> None:
    """The product's backup (audit rows, export, one full check, hash, zip, fsync, re-read)
    against a bare sqlcipher_export plus one full integrity check of the copy."""
    reg = session.register
    ours, _ = timed(backup_service.backup, session, tmp / f"backup-{count}.gpob")
    (tmp / f"backup-{count}.gpob").unlink()
    copy = tmp / f"floor-copy-{count}.db"

    def floor():
        with reg.reading() as conn:
            conn.execute("ATTACH DATABASE ? AS b KEY ?", (str(copy), f"x'{reg.data_key.hex()}'"))
            conn.execute("SELECT sqlcipher_export('b')")
            conn.execute("DETACH DATABASE b")
        c = raw_connection(copy, reg.data_key)
        c.execute("PRAGMA cache_size = -65536")  # the same page cache as the register's connections
        c.execute("PRAGMA integrity_check").fetchall()
        c.close()

    floor_s, _ = timed(floor)
    copy.unlink()
    report(f"backup at {count:,} patients", ours, floor_s, ratio=2.0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="100,000 patients (also BENCH_QUICK=1)")
    args = parser.parse_args()
    if args.quick:
        os.environ["BENCH_QUICK"] = "1"
    big = patients_size()
    print(f"Register core benchmarks at {big:,} patients ({machine()})")
    tmp = Path(tempfile.mkdtemp(prefix="bench-register-"))
    try:
        # Best of 7 at 10,000 (each run is a fifth of a second, shorter than a shared machine's
        # stalls), best of 3 for any other size <= 100,000; the floor the same number of times.
        small, small_folder = bench_create(tmp / "small", SMALL, 7)
        small_key = small.register.data_key
        small.lock()
        session, folder = bench_create(tmp / "big", big, 3 if big <= 100_000 else 1)
        raw = raw_connection(folder / "register.db", session.register.data_key)
        bench_search(session, raw)
        raw.close()
        bench_record(session, tmp)
        bench_backup(session, tmp, big)
        data_key = session.register.data_key
        session.lock()

        ours_small, floor_small = unlock_times(small_folder, small_key)
        ours_big, floor_big = unlock_times(folder, data_key)
        kdf = keyfile.KDF_DEFAULTS
        report(f"unlock at {SMALL:,} patients (Argon2id t={kdf['t']}, m={kdf['m_kib'] // 1024} MiB)", ours_small,
               floor_small, limit=1.0)
        report(f"unlock at {big:,} patients", ours_big, floor_big, limit=1.0)
        report(f"unlock at {big:,} against unlock at {SMALL:,}", ours_big, ours_small, ratio=1.3)
        report("  of which the key derivation alone", keyfile.kdf_seconds(), None)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
