"""Server mode on a loopback PostgreSQL (issue 15, item 8), each figure beside raw psycopg
doing the same statements in the same run.

The cluster is the test suite's (tests/server/cluster.py: TLS verify-full + SCRAM, row-level
security on), but durable: fsync, full_page_writes and synchronous_commit on, as shipped.

- Load: P practices x N patients through the desk API (store/server/ops.py: identity sealed
  with AES-256-GCM, blind-index tokens, one audit row per patient, 500 patients per
  transaction). Floor: raw psycopg sending the same INSERTs (patients, tokens, audit rows,
  head update) with precomputed random bytes, into a practice of its own.
- Recording: 10 desks of one practice recording Type 1 objections for 30 s (ops.record_event:
  patient row lock, history, form id, event, current state, chained audit row, revision,
  NOTIFY). Floor: 10 raw connections of another practice sending the same statements with
  placeholder MACs and no decryption or validation. Targets: p95 <= 250 ms, >= 50 recordings/s.
- Search: one desk, NHS number, surname prefix, date of birth and postcode searches
  (ops.Desk.search_ids: one blind-index query, candidates decrypted and filtered on the desk).
  Floor: the same query with the same index value over raw psycopg. Target: p95 <= 50 ms.

Run: scripts/run-benchmarks bench_server.py, or .venv/bin/python benchmarks/bench_server.py
[--practices 30] [--patients 15000] [--seconds 30]; --quick (or BENCH_QUICK=1): 3 x 3,000, 10 s.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import secrets
import statistics
import sys
import threading
import time
from datetime import date, datetime, timezone

import common  # noqa: F401  (puts the checkout on sys.path)
from common import fmt, machine, p95, report

import psycopg

from gp_optout_desktop.domain.nhs_number import check_digit
from gp_optout_desktop.domain.patient import validate_patient
from gp_optout_desktop.store import patients as patients_store
from gp_optout_desktop.store.server import ops, schema
from tests.server.cluster import Cluster

TODAY = date(2026, 12, 1)
TYPE2_CUTOFF = date(2026, 6, 30)
BATCH = 500
DESKS = 10


def _names(seed: int) -> tuple[list[str], list[str]]:
    """180 synthetic surnames with distinct first four letters (so a surname's blind-index token
    finds about 1/180 of a practice, ~85 of 15,000, as measured in the design notes), and 300
    postcodes (~50 patients each)."""
    rng = random.Random(seed)
    consonants, vowels = "BCDFGHJKLMNPRSTW", "AEIOU"
    endings = ("", "n", "ton", "well", "by", "son", "er", "ley", "ford", "ham")
    starts: set[str] = set()
    while len(starts) < 180:
        starts.add(rng.choice(consonants) + rng.choice(vowels).lower() + rng.choice(consonants).lower()
                   + rng.choice(vowels).lower())
    surnames = [s + rng.choice(endings) for s in sorted(starts)]
    postcodes = sorted({f"{rng.choice(('LS', 'BD', 'HX', 'WF', 'YO', 'HG'))}{rng.randrange(1, 30)} "
                        f"{rng.randrange(1, 10)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
                        for _ in range(300)})
    return surnames, postcodes


SURNAMES, POSTCODES = _names(2026)
FORENAMES = ["Amelia", "Oliver", "Isla", "George", "Ava", "Noah", "Mia", "Leo", "Ivy", "Arthur", "Freya", "Muhammad"]


def nhs_numbers(start: int):
    n = start
    while True:
        nine = f"999{n:06d}"
        n += 1
        digit = check_digit(nine)
        if digit is not None:
            yield nine + str(digit)


def synthetic(rng: random.Random, nhs: str):
    return validate_patient(surname=rng.choice(SURNAMES), forenames=rng.choice(FORENAMES),
                            dob=date(1940 + rng.randrange(80), 1 + rng.randrange(12), 1 + rng.randrange(28)).isoformat(),
                            postcode_raw=rng.choice(POSTCODES), nhs=nhs, today=TODAY)


class Server:
    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.dbname = "gpoptout"
        with cluster.admin() as conn:
            conn.execute(f'CREATE DATABASE "{self.dbname}"')
        self.admin = psycopg.connect(cluster.admin_conninfo(self.dbname))
        schema.init_server(self.admin)
        self.admin.autocommit = True
        self.logins: dict[int, list[tuple[str, str]]] = {}

    def practice(self, name: str, desks: int) -> int:
        pid = schema.add_practice(self.admin, name)
        self.logins[pid] = []
        for i in range(desks):
            login, password = f"p{pid}_desk{i}", secrets.token_urlsafe(18)
            schema.add_desk_login(self.admin, pid, login, password)
            self.logins[pid].append((login, password))
        return pid

    def connect(self, pid: int, i: int = 0) -> psycopg.Connection:
        login, password = self.logins[pid][i]
        return psycopg.connect(self.cluster.conninfo(dbname=self.dbname, user=login, password=password))

    def desk(self, pid: int, key: bytes, i: int = 0, user: str = "alice") -> ops.Desk:
        return ops.Desk.open(self.connect(pid, i), key, user=user, role="manager")


# ---- load -------------------------------------------------------------------------------------
def api_load(server: Server, pid: int, key: bytes, n: int, nhs_start: int) -> list[int]:
    """NHS numbers are unique per practice, so every practice may use the same synthetic ones."""
    desk = server.desk(pid, key)
    rng = random.Random(pid)
    numbers = nhs_numbers(nhs_start)
    ids: list[int] = []
    with desk.write() as tx:
        ops.start_register(tx, {"name": f"practice {pid}"})
    for start in range(0, n, BATCH):
        people = [synthetic(rng, next(numbers)) for _ in range(min(BATCH, n - start))]
        with desk.write() as tx:
            ids.extend(ops.add_patient(tx, p) for p in people)
    desk.conn.close()
    return ids


def raw_load(server: Server, pid: int, n: int) -> list[int]:
    """The INSERTs ops.add_patient and the chain append send, with random bytes in place of
    the ciphertext, blind indexes and MACs (so: no AES, no HMAC, no domain validation)."""
    conn = server.connect(pid)
    ids: list[int] = []
    for start in range(0, n, BATCH):
        with conn.transaction():
            cur = conn.cursor()
            for _ in range(min(BATCH, n - start)):
                row_id = cur.execute("SELECT nextval(pg_get_serial_sequence('patients', 'id'))").fetchone()[0]
                cur.execute("INSERT INTO patients(id, identity, nhs_bidx, created_by) VALUES (%s, %s, %s, %s)",
                            (row_id, os.urandom(150), os.urandom(16), "alice"))
                cur.executemany("INSERT INTO patient_tokens(token, patient_id) VALUES (%s, %s)",
                                [(os.urandom(4), row_id) for _ in range(10)])
                ids.append(row_id)
            raw_chain(cur, pid, len(ids) - start, "patient.create")
    conn.close()
    return ids


def raw_chain(cur, pid: int, rows: int, action: str) -> None:
    """_append_chain's statements: the practice row locked, the clock, the audit rows, the head
    and revision, the NOTIFY; with placeholder MACs (this practice's chain is not verified)."""
    head = cur.execute("SELECT audit_seq, audit_mac FROM practices WHERE id = %s FOR NO KEY UPDATE",
                       (pid,)).fetchone()
    seq = head[0]
    at = cur.execute("SELECT clock_timestamp()").fetchone()[0].isoformat()
    mac = secrets.token_hex(32)
    cur.executemany("INSERT INTO audit(practice_id, seq, at, actor, role, action, patient, outcome, workstation,"
                    " detail, prev, mac) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                    [(pid, seq + i + 1, at, "alice", "manager", action, secrets.token_hex(16), "ok", "bench", "",
                      mac, mac) for i in range(rows)])
    revision = cur.execute("UPDATE practices SET audit_seq = %s, audit_mac = %s, revision = revision + 1"
                           " WHERE id = %s RETURNING revision", (seq + rows, mac, pid)).fetchone()[0]
    cur.execute("SELECT pg_notify(%s, %s)", (ops.channel(pid), ops.notify_payload(revision, [])))


# ---- recording --------------------------------------------------------------------------------
def run_desks(work, patients: list[int], seconds: float) -> tuple[list[float], float, int]:
    """DESKS threads each calling ``work(desk_index, patient_id)`` on fresh patients until time
    is up; returns (latencies, wall seconds, errors)."""
    queue = iter(patients)
    lock = threading.Lock()
    latencies: list[float] = []
    errors = [0]
    stop = time.perf_counter() + seconds

    def loop(i: int) -> None:
        mine = []
        while time.perf_counter() < stop:
            with lock:
                pid = next(queue, None)
            if pid is None:
                break
            t0 = time.perf_counter()
            try:
                work(i, pid)
            except Exception as exc:  # counted and shown: a benchmark reports, it does not hide
                errors[0] += 1
                if errors[0] <= 3:
                    print(f"  desk {i}: {exc.__class__.__name__}: {exc}", file=sys.stderr)
                continue
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(DESKS)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - start, errors[0]


def api_recording(server: Server, pid: int, key: bytes, patients: list[int], seconds: float):
    desks = [server.desk(pid, key, i, user=f"desk{i}") for i in range(DESKS)]

    def work(i: int, patient_id: int) -> None:
        with desks[i].write() as tx:
            ops.record_event(tx, patient_id, "type1", "register", effective=TODAY, received=TODAY, via="desk",
                             today=TODAY, type2_cutoff=TYPE2_CUTOFF, recorded_at=datetime.now(timezone.utc),
                             letter=("register", TODAY))

    try:
        return run_desks(work, patients, seconds)
    finally:
        for d in desks:
            d.conn.close()


def raw_recording(server: Server, pid: int, patients: list[int], seconds: float):
    conns = [server.connect(pid, i) for i in range(DESKS)]
    history = ("SELECT id, kind, action, effective, received, via, proxy_role, proxy, submitted_by, recorded_by,"
               " recorded_at FROM events WHERE patient_id = %s ORDER BY effective, id")

    def work(i: int, patient_id: int) -> None:
        conn = conns[i]
        now = datetime.now(timezone.utc)
        with conn.transaction():
            cur = conn.cursor()
            cur.execute("SELECT identity FROM patients WHERE id = %s FOR NO KEY UPDATE", (patient_id,)).fetchone()
            cur.execute(history, (patient_id,)).fetchall()
            form_id = cur.execute("SELECT nextval('form_ids')").fetchone()[0]
            event_id = cur.execute("SELECT nextval(pg_get_serial_sequence('events', 'id'))").fetchone()[0]
            cur.execute("INSERT INTO events(id, patient_id, kind, action, effective, received, via, proxy_role, proxy,"
                        " form_id, recorded_by, recorded_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                        (event_id, patient_id, "type1", "register", TODAY, TODAY, "desk", None, None, form_id,
                         f"desk{i}", now))
            cur.execute(history, (patient_id,)).fetchall()
            cur.execute("INSERT INTO current_state(patient_id, kind, active, since, event_id) VALUES (%s,%s,%s,%s,%s)"
                        " ON CONFLICT (practice_id, patient_id, kind) DO UPDATE SET active = excluded.active,"
                        " since = excluded.since, event_id = excluded.event_id",
                        (patient_id, "type1", True, TODAY, event_id))
            for kind in ("type2", "include"):
                cur.execute("DELETE FROM current_state WHERE patient_id = %s AND kind = %s", (patient_id, kind))
            cur.execute("INSERT INTO letters(patient_id, form_id, kind, queued_at, due) VALUES (%s,%s,%s,%s,%s)"
                        " RETURNING id", (patient_id, form_id, "register", now, TODAY)).fetchone()
            raw_chain(cur, pid, 2, "type1.register")

    try:
        return run_desks(work, patients, seconds)
    finally:
        for c in conns:
            c.close()


# ---- search -----------------------------------------------------------------------------------
def searches(server: Server, pid: int, key: bytes, count: int) -> dict[str, tuple[list[float], list[float]]]:
    """Per kind: (API latencies, raw latencies), interleaved query by query."""
    desk = server.desk(pid, key)
    raw = server.connect(pid)
    raw.autocommit = True
    rng = random.Random(7)
    nhs = list(itertools.islice(nhs_numbers(0), 2000))  # every practice was loaded from the first
    texts = {
        "NHS number": lambda: rng.choice(nhs),
        "surname": lambda: rng.choice(SURNAMES),
        "surname prefix": lambda: rng.choice(SURNAMES)[:3],
        "surname, forename": lambda: f"{rng.choice(SURNAMES)}, {rng.choice(FORENAMES)[:1]}",
        "date of birth": lambda: date(1940 + rng.randrange(80), 1 + rng.randrange(12), 1 + rng.randrange(28)).isoformat(),
        "postcode": lambda: rng.choice(POSTCODES),
    }
    out: dict[str, tuple[list[float], list[float]]] = {}
    for kind, make in texts.items():
        api_t, raw_t = [], []
        for _ in range(count):
            text = make()
            sql, args = ops.search_sql(desk.keys, patients_store.parse_query(text))
            t0 = time.perf_counter()
            desk.search_ids(text)
            api_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            raw.execute(sql, args).fetchall()
            raw_t.append(time.perf_counter() - t0)
        out[kind] = (api_t, raw_t)
    desk.conn.close()
    raw.close()
    return out


def main() -> int:
    quick = bool(os.environ.get("BENCH_QUICK")) or "--quick" in sys.argv
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--practices", type=int, default=3 if quick else 30)
    ap.add_argument("--patients", type=int, default=3_000 if quick else 15_000)
    ap.add_argument("--seconds", type=float, default=10 if quick else 30)
    ap.add_argument("--searches", type=int, default=100 if quick else 300)
    args = ap.parse_args()
    print(f"bench_server: {args.practices} practices x {args.patients:,} patients, {DESKS} desks for "
          f"{args.seconds:g} s; {machine()}")
    cluster = Cluster(durable=True).start()
    try:
        server = Server(cluster)
        keys = {}
        for i in range(args.practices):
            pid = server.practice(f"Practice {i + 1}", DESKS if i == 0 else 1)
            keys[pid] = os.urandom(32)
        raw_pid = server.practice("Raw floor", DESKS)
        first = next(iter(keys))

        # Load: every practice through the API (two at a time: 2 loader threads), one raw.
        loaded: dict[int, list[int]] = {}
        pids = list(keys)
        t0 = time.perf_counter()

        def loader(part):
            for pid in part:
                loaded[pid] = api_load(server, pid, keys[pid], args.patients, 0)

        threads = [threading.Thread(target=loader, args=(pids[k::2],)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        api_load_s = time.perf_counter() - t0
        assert all(len(loaded[p]) == args.patients for p in pids), "a practice did not load fully"
        # The floor: one practice's worth, single-threaded, beside one practice's API time
        # measured alone (so the two compare like for like).
        t0 = time.perf_counter()
        extra = server.practice("Load alone", 1)
        keys[extra] = os.urandom(32)
        api_load(server, extra, keys[extra], args.patients, 0)
        one_api_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        raw_ids = raw_load(server, raw_pid, args.patients)
        one_raw_s = time.perf_counter() - t0
        total = args.practices * args.patients
        print(f"  loaded {total:,} patients in {api_load_s:.1f} s ({total / api_load_s:,.0f}/s, 2 loaders)")
        report(f"load {args.patients:,} patients into one practice (API)", one_api_s, one_raw_s,
               note=f"all {args.practices} practices: {fmt(api_load_s)}")
        with server.admin.cursor() as cur:
            size = cur.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        print(f"  database size {size / 1e6:,.0f} MB ({size / (total + 2 * args.patients):,.0f} B/patient)")

        # Recording: 10 desks on one practice, then 10 raw connections on the floor practice.
        lat, wall, errors = api_recording(server, first, keys[first], loaded[first], args.seconds)
        raw_lat, raw_wall, raw_errors = raw_recording(server, raw_pid, raw_ids, args.seconds)
        rate, raw_rate = len(lat) / wall, len(raw_lat) / raw_wall
        print(f"  recordings: API {len(lat)} in {wall:.1f} s ({rate:.0f}/s, {errors} errors); raw {len(raw_lat)} in "
              f"{raw_wall:.1f} s ({raw_rate:.0f}/s, {raw_errors} errors); p50 API {fmt(statistics.median(lat))} "
              f"raw {fmt(statistics.median(raw_lat))}")
        report(f"{DESKS} desks, one practice: record objection p95", p95(lat), p95(raw_lat), limit=0.250)
        report(f"{DESKS} desks, one practice: time per recording (1/throughput; >= 50/s)", 1 / rate, 1 / raw_rate,
               limit=1 / 50, note=f"{rate:.0f} recordings/s")
        ok_chain = errors == 0

        # Search: one desk, each kind, interleaved with the raw query.
        results = searches(server, first, keys[first], args.searches)
        everything_api, everything_raw = [], []
        for kind, (api_t, raw_t) in results.items():
            everything_api += api_t
            everything_raw += raw_t
            report(f"search by {kind} p95 (one desk, {args.patients:,} patients)", p95(api_t), p95(raw_t),
                   limit=0.050)
        report("search p95, all kinds", p95(everything_api), p95(everything_raw), limit=0.050)
        return 0 if ok_chain else 1
    finally:
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
