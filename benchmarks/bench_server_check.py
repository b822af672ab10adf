"""The integrity check of a server practice (ADR 0011 addendum "on a server"): a practice of
N patients imported through the program (services/importer.py, one Type 1 code each), then
its check timed (store/server/integrity.py: chain, every blob opened, blind indexes and
tokens recomputed, current states against history), beside the chain's verification alone
and a bare read of the same rows (the floors) in the same run. The cluster is the test
suite's (TLS verify-full + SCRAM, row-level security on), durable.

Run: .venv/bin/python benchmarks/bench_server_check.py [--rows 5000]
"""

from __future__ import annotations

import argparse
import os
import time

import common  # noqa: F401  (puts the checkout on sys.path)
from common import machine, report

from bench_server import Server
from bench_server_import import NOW, make_csv

from gp_optout_desktop.services import importer
from gp_optout_desktop.services.server_session import ServerSession
from gp_optout_desktop.store.server import chain, integrity, ops, reading
from tests.server.cluster import Cluster


def best(fn, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000)
    args = ap.parse_args()
    print(f"bench_server_check: {args.rows:,} patients; {machine()}")
    cluster = Cluster(durable=True).start()
    try:
        server = Server(cluster)
        pid = server.practice("Check", 1)
        session = ServerSession.open(server.connect(pid), os.urandom(32), user="pm", role="manager")
        with session.desk.write() as tx:
            ops.start_register(tx, {"name": "Bench Surgery", "ods": "F84003"})
        session.clock = lambda: NOW
        importer.import_objections(session, make_csv(args.rows))
        desk = session.desk
        result = integrity.check_practice(desk)
        assert result.ok, result.problems
        assert result.counts["patients"] == args.rows, result.counts
        check_s = best(lambda: integrity.check_practice(desk))
        chain_s = best(lambda: chain.verify(desk.conn, desk.keys.audit_key, desk.practice_id))

        def bare() -> None:
            with reading.snapshot(desk.conn):
                desk.conn.execute("SELECT id, identity, nhs_bidx FROM patients").fetchall()
                desk.conn.execute("SELECT token, patient_id FROM patient_tokens").fetchall()
                desk.conn.execute("SELECT * FROM events").fetchall()
                desk.conn.execute("SELECT * FROM current_state").fetchall()

        bare_s = best(bare)
        session.lock()
    finally:
        cluster.stop()
    print(f"  counts: {result.counts}")
    report(f"server practice check, {args.rows:,} patients vs chain.verify alone", check_s, chain_s)
    report(f"server practice check, {args.rows:,} patients vs a bare read of its rows", check_s, bare_s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
