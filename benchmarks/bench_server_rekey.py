"""Re-keying a practice of 15,000 patients (a practice's size) on the server (issue 15, helper
rekey15; ADR 0015 addendum "re-keying a server practice"), beside the register file's re-key of
the same 15,000 patients (its PRAGMA rekey rewrites every page) as the baseline.

The server's figure is the store's one transaction (store/server/rekey.py): every patient's
identity blob opened and sealed again on the desk, its NHS blind index and search tokens
recomputed, written back in arrays; proxies; slots; the epoch entries. The users' Argon2id runs
(one per other user, made before the transaction by services/server_users.rekey) are not in it:
they are printed apart. The cluster is the test suite's, durable (fsync, full_page_writes and
synchronous_commit on), TLS verify-full + SCRAM, row-level security on.

Run: .venv/bin/python benchmarks/bench_server_rekey.py [--patients 15000]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from datetime import date
from pathlib import Path

import common  # noqa: F401  (puts the checkout on sys.path)
from bench_server import Server, nhs_numbers, synthetic
from common import machine, report

from gp_optout_desktop.domain.events import Proxy
from gp_optout_desktop.services import patients, setup, users
from gp_optout_desktop.store.server import connect, ops
from gp_optout_desktop.store.server import rekey as server_rekey
from gp_optout_desktop.store.server.desk_store import ServerStore
from tests.server.cluster import Cluster

TODAY = date(2026, 12, 1)


def people(n: int) -> list:
    rng, numbers = random.Random(15), nhs_numbers(0)
    return [synthetic(rng, next(numbers)) for _ in range(n)]


def file_rekey(everyone: list) -> float:
    """The register file's re-key of the same patients (services/users.rekey), timed."""
    with tempfile.TemporaryDirectory() as tmp:
        session, _recovery = setup.create_register(Path(tmp) / "register", ods="F84003",
                                                   practice=setup.practice_details(name="Bench Surgery"),
                                                   user="pm", password="pm-password-1")
        with session.write("add_patient") as ctx:
            ctx.store.insert_patients(everyone, by="pm", at=session.now())
            ctx.audit("patient.create", detail=f"bench patients={len(everyone)}")
        t0 = time.perf_counter()
        users.rekey(session, "pm-password-1")
        spent = time.perf_counter() - t0
        assert patients.find(session, everyone[0].nhs_number)
        session.lock()
        return spent


def server_rekey_timed(server: Server, everyone: list, proxies: int) -> tuple[float, dict]:
    pid = server.practice("Rekey", 1)
    login = server.logins[pid][0][0]
    data_key = os.urandom(32)
    desk = ops.Desk.open(server.connect(pid), data_key, user=login, role="manager")
    with desk.write() as tx:
        ops.start_register(tx, {"name": "Bench Surgery", "ods": "F84003"})
        tx.conn.execute("INSERT INTO users(name, role, active, created_at, created_by)"
                        " VALUES (%s, 'manager', true, now(), 'bench')", (login,))
        ops.put_key_slot(tx, login, os.urandom(32), data_key)
    with desk.write() as tx:
        ids = ServerStore(desk, tx).insert_patients(everyone)
        tx.audit("patient.create", detail=f"bench patients={len(everyone)}")
    for pid_ in ids[:proxies]:
        with desk.write() as tx:
            ops.record_event(tx, pid_, "type1", "register", effective=TODAY, received=TODAY, via="desk",
                             today=TODAY, type2_cutoff=date(2026, 6, 30), recorded_at=_now(),
                             proxy=Proxy("lpa_health_welfare", "Proxy Person", "LPA seen", login))
    steps, last = {}, [time.perf_counter()]

    def step(name: str) -> None:
        now = time.perf_counter()
        steps[name] = steps.get(name, 0.0) + now - last[0]
        last[0] = now

    plan = server_rekey.Plan(data_key=os.urandom(32), own_unwrap=os.urandom(32), others={})
    t0 = time.perf_counter()
    last[0] = t0
    result = server_rekey.rekey(desk, plan, detail="users_reset=0", on_step=step)
    spent = time.perf_counter() - t0
    steps["commit"] = time.perf_counter() - last[0]
    desk.keys, desk.key_epoch = result.keys, result.epoch
    assert desk.search_ids(everyone[0].nhs_number) == [ids[0]] and result.counts["patients"] == len(everyone)
    desk.conn.close()
    return spent, steps


def _now():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=15_000)
    ap.add_argument("--proxies", type=int, default=200)
    args = ap.parse_args()
    print(f"bench_server_rekey: {args.patients:,} patients, {args.proxies} proxies; {machine()}")
    everyone = people(args.patients)
    file_s = file_rekey(everyone)
    print(f"  register file re-key: {file_s:.2f} s", flush=True)
    t0 = time.perf_counter()
    connect.derive_login(connect.ServerAddress((("dbname", "bench"),)), "bench_user", "a-temporary-password")
    argon_s = time.perf_counter() - t0
    print(f"  one other user's temporary password (Argon2id, on the desk before the transaction): {argon_s:.2f} s",
          flush=True)
    cluster = Cluster(durable=True).start()
    try:
        server_s, steps = server_rekey_timed(Server(cluster), everyone, args.proxies)
    finally:
        cluster.stop()
    print("  server re-key steps: " + ", ".join(f"{k} {v:.2f} s" for k, v in steps.items()))
    report(f"re-key {args.patients:,} patients, register file (service)", file_s, None)
    report(f"re-key {args.patients:,} patients, server (one transaction) vs register file", server_s, file_s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
