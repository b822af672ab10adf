"""The CSV import of coded objections, 15,000 rows (a first import: every row a new patient with
one Type 1 code), through the same service (services/importer.py) on a register file and on a
practice on a loopback PostgreSQL server (issue 15, helper srvdata15), beside two raw psycopg
floors measured in the same run: the same rows' INSERTs sent with executemany (random bytes in
place of ciphertext, blind indexes and MACs; no validation, no decryption), and the same rows
loaded with COPY.

The cluster is the test suite's (tests/server/cluster.py: TLS verify-full + SCRAM, row-level
security on), durable: fsync, full_page_writes and synchronous_commit on.

Run: .venv/bin/python benchmarks/bench_server_import.py [--rows 15000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import common  # noqa: F401  (puts the checkout on sys.path)
import psycopg
from common import machine, report

from bench_server import Server

from gp_optout_desktop.domain.nhs_number import synthetic_range
from gp_optout_desktop.services import importer, setup
from gp_optout_desktop.services.server_session import ServerSession
from gp_optout_desktop.store.server import ops
from tests.server.cluster import Cluster

NOW = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
TOKENS = 10  # about as many search tokens as a patient gets (surname prefixes, dob, postcode, NHS)


def make_csv(count: int) -> str:
    lines = ["NHS Number,Surname,Forename(s),Date of Birth,Postcode,Address Line 1,Clinical Code,Code Date"]
    for i, nhs in enumerate(synthetic_range(count)):
        lines.append(f"{nhs},Surname{i % 4000},Alex,{1 + i % 28:02d}/{1 + i % 12:02d}/{1930 + i % 90},LS1 4AP,"
                     f"{i} High Street,827241000000103,2024-01-{1 + i % 28:02d}")
    return "\r\n".join(lines) + "\r\n"


def _timed_import(session, text: str) -> float:
    """The program's import of ``text`` (every row a new patient), timed; the session locked after."""
    session.clock = lambda: NOW
    t0 = time.perf_counter()
    change = importer.import_objections(session, text)
    spent = time.perf_counter() - t0
    session.lock()
    assert change.data["plan"].patients_new == text.count("\n") - 1
    return spent


def file_import(text: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        session, _recovery = setup.create_register(Path(tmp) / "register", ods="F84003",
                                                   practice=setup.practice_details(name="Bench Surgery"),
                                                   user="pm", password="pm-password-1")
        return _timed_import(session, text)


def server_import(server: Server, text: str) -> float:
    pid = server.practice("Import", 1)
    session = ServerSession.open(server.connect(pid), os.urandom(32), user="pm", role="manager")
    with session.desk.write() as tx:
        ops.start_register(tx, {"name": "Bench Surgery", "ods": "F84003"})
    return _timed_import(session, text)


def _raw_rows(cur, n: int, practice: int | None) -> tuple[list, list, list, list, list]:
    ids = [r[0] for r in cur.execute("SELECT nextval(pg_get_serial_sequence('patients', 'id'))"
                                     " FROM generate_series(1, %s)", (n,))]
    eids = [r[0] for r in cur.execute("SELECT nextval(pg_get_serial_sequence('events', 'id'))"
                                      " FROM generate_series(1, %s)", (n,))]
    forms = [r[0] for r in cur.execute("SELECT nextval('form_ids') FROM generate_series(1, %s)", (n,))]
    patients = [(i, os.urandom(150), os.urandom(16), "pm") for i in ids]
    tokens = [(os.urandom(16), i) for i in ids for _ in range(TOKENS)]
    events = [(e, i, "type1", "register", "2024-01-01", "2024-01-01", "import", f, "pm", NOW)
              for e, i, f in zip(eids, ids, forms)]
    if practice is not None:  # the administrator has no practice of its own: name it on every row
        patients, tokens, events = ([(practice, *r) for r in rows] for rows in (patients, tokens, events))
    return ids, eids, patients, tokens, events


def raw_import(server: Server, n: int, copy: bool) -> float:
    """The rows the import writes, for the same number of rows, as fast as psycopg can send them.
    COPY FROM is refused on a table with row-level security ("COPY FROM not supported with
    row-level security"), and desks may not make temporary tables, so a desk cannot COPY at
    all: the COPY floor runs as the cluster's administrator (a superuser, which RLS does not
    apply to) into a practice of its own, as a bound on what the server could take."""
    pid = server.practice("Raw copy" if copy else "Raw executemany", 1)
    conn = psycopg.connect(server.cluster.admin_conninfo(server.dbname)) if copy else server.connect(pid)
    t0 = time.perf_counter()
    with conn.transaction():
        cur = conn.cursor()
        ids, eids, patients, tokens, events = _raw_rows(cur, n, pid if copy else None)
        marks = [(e, m, NOW, by) for e in eids for m, by in (("coded", "pm"), ("confirmed", "import"))]
        state = [(i, "type1", True, "2024-01-01", e) for i, e in zip(ids, eids)]
        col = "practice_id, " if copy else ""
        if copy:
            marks, state = ([(pid, *r) for r in rows] for rows in (marks, state))
        audit = [(pid, s + 1, NOW.isoformat(), "pm", "manager", "x", "ref", "ok", "bench", "d", "0" * 64, "0" * 64)
                 for s in range(2 * n + 1)]
        tables = (
            (f"patients({col}id, identity, nhs_bidx, created_by)", patients),
            (f"patient_tokens({col}token, patient_id)", tokens),
            (f"events({col}id, patient_id, kind, action, effective, received, via, form_id, recorded_by,"
             " recorded_at)", events),
            (f"event_marks({col}event_id, mark, at, by)", marks),
            (f"current_state({col}patient_id, kind, active, since, event_id)", state),
            ("audit(practice_id, seq, at, actor, role, action, patient, outcome, workstation, detail, prev, mac)",
             audit))
        for target, rows in tables:
            if copy:
                with cur.copy(f"COPY {target} FROM STDIN") as cp:
                    for row in rows:
                        cp.write_row(row)
            else:
                marks_ = ",".join(["%s"] * len(rows[0]))
                cur.executemany(f"INSERT INTO {target} VALUES ({marks_})", rows)
        cur.execute("UPDATE practices SET audit_seq = %s, revision = revision + 1 WHERE id = %s", (2 * n + 1, pid))
    spent = time.perf_counter() - t0
    conn.close()
    return spent


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=15_000)
    args = ap.parse_args()
    print(f"bench_server_import: {args.rows:,} rows; {machine()}")
    text = make_csv(args.rows)
    file_s = file_import(text)
    print(f"  register file: {file_s:.2f} s", flush=True)
    cluster = Cluster(durable=True).start()
    try:
        server = Server(cluster)
        server_s = server_import(server, text)
        print(f"  server: {server_s:.2f} s", flush=True)
        many_s = raw_import(server, args.rows, copy=False)
        copy_s = raw_import(server, args.rows, copy=True)
    finally:
        cluster.stop()
    report(f"import {args.rows:,} rows, register file (service)", file_s, None)
    report(f"import {args.rows:,} rows, server (service) vs raw executemany", server_s, many_s)
    report(f"import {args.rows:,} rows, server (service) vs raw COPY", server_s, copy_s)
    report(f"import {args.rows:,} rows, server vs register file", server_s, file_s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
