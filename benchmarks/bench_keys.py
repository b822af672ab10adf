"""What the key hierarchy (docs/adr/0006) adds to unlock, and to a bulk load, at 100,000 patients.

Unlock: the whole ``session.unlock`` (Argon2id with the production parameters, open,
checks, the signed login entry) is timed, and inside it the part the new keys add:
unwrapping the audit and manager keys from the slot (HKDF + AES-GCM), verifying the user
certificates and this user's record, installing the row-digest triggers, and signing. Beside
it, the raw floor: one Argon2id run alone. Target: the new keys add <= 50 ms.

Bulk: the demo load with the row-digest triggers (as shipped) beside the same load with the
triggers removed, interleaved, so the cost of 'every row attributable' shows; and the time of
one full ``audit verify`` at N patients.

Run: .venv/bin/python benchmarks/bench_keys.py [--patients 100000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from gp_optout_desktop.services import audit, demo, session as session_service
from gp_optout_desktop.store import attest, keyfile, register as register_store


def _median_ms(values):
    return statistics.median(values) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--bulk-patients", type=int, default=20_000)
    ap.add_argument("--bulk-rounds", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-keys-"))
    try:
        folder = tmp / "register"
        session, _recovery, _stats = demo.create_demo(folder, args.patients)
        start = time.perf_counter()
        verified = audit.verify(session)
        verify_s = time.perf_counter() - start
        assert verified.ok, verified.problems
        session.lock()

        # The bulk load with and without the triggers, interleaved so machine noise falls on both.
        # Cheap Argon2 here: the demo's users' key derivations are not what this compares.
        with_s, without_s = [], []
        original, production_kdf = attest.install, keyfile.KDF_DEFAULTS
        keyfile.KDF_DEFAULTS = {"alg": "argon2id", "t": 1, "m_kib": 8192, "p": 1}
        for i in range(args.bulk_rounds):
            for label, install, out in (("with", original, with_s), ("without", lambda conn, acc: None, without_s)):
                attest.install = install
                try:
                    start = time.perf_counter()
                    s, _r, _st = demo.create_demo(tmp / f"bulk-{label}-{i}", args.bulk_patients)
                    out.append(time.perf_counter() - start)
                    s.lock()
                finally:
                    attest.install = original
                shutil.rmtree(tmp / f"bulk-{label}-{i}", ignore_errors=True)
        keyfile.KDF_DEFAULTS = production_kdf

        # Time the new-key work inside each unlock.
        spent: list[float] = []
        take_up, chain = register_store._take_up_keys, register_store._chain

        def timed(fn):
            def run(*a, **kw):
                t = time.perf_counter()
                try:
                    return fn(*a, **kw)
                finally:
                    spent[-1] += time.perf_counter() - t
            return run

        register_store._take_up_keys = timed(take_up)
        register_store._chain = timed(chain)
        totals, floors = [], []
        try:
            for _ in range(args.repeats):
                spent.append(0.0)
                t = time.perf_counter()
                s = session_service.unlock(folder, "manager", "manager-demo-pass")
                totals.append(time.perf_counter() - t)
                s.lock()
                floors.append(keyfile.kdf_seconds())
        finally:
            register_store._take_up_keys, register_store._chain = take_up, chain
        # The signature on the login entry (one Ed25519 sign), measured on its own.
        from gp_optout_desktop.store import certs

        key = certs.audit_private(certs.new_audit_seed())
        t = time.perf_counter()
        for _ in range(200):
            key.sign(os.urandom(32))
        sign_s = (time.perf_counter() - t) / 200
        print(f"patients: {args.patients}, repeats: {args.repeats}, KDF {keyfile.KDF_DEFAULTS}")
        print(f"unlock (whole): median {_median_ms(totals):.0f} ms; raw floor (one Argon2id alone): "
              f"median {_median_ms(floors):.0f} ms")
        print(f"new keys inside unlock (slot secrets, certificates, record check, triggers): median "
              f"{_median_ms(spent):.1f} ms, max {max(spent) * 1000:.1f} ms; plus one signature "
              f"{sign_s * 1000:.2f} ms (target: <= 50 ms added)")
        w, wo = statistics.median(with_s), statistics.median(without_s)
        print(f"bulk demo load of {args.bulk_patients} (median of {args.bulk_rounds}, interleaved): {w:.2f} s with "
              f"row digests, {wo:.2f} s without ({(w / wo - 1) * 100:+.0f}%)")
        print(f"audit verify at {args.patients} patients (every signature, every table digest): {verify_s:.2f} s")
        argon2_old_against_new(args.repeats)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def argon2_old_against_new(repeats: int) -> None:
    """One derivation with the current parameters beside one with the superseded 192 MiB ones
    (issue 13: less memory, more passes and lanes, about the same wall time), interleaved."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import report

    old = getattr(keyfile, "SUPERSEDED_KDFS", (keyfile.KDF_DEFAULTS,))[0]
    new_s, old_s = [], []
    for _ in range(repeats):
        new_s.append(keyfile.kdf_seconds(keyfile.KDF_DEFAULTS))
        old_s.append(keyfile.kdf_seconds(old))
    kdf = keyfile.KDF_DEFAULTS
    report(f"Argon2id t={kdf['t']} m={kdf['m_kib'] // 1024} MiB p={kdf['p']} (median of {repeats})",
           statistics.median(new_s), statistics.median(old_s), ratio=1.25,
           note=f"floor: the superseded t={old['t']} m={old['m_kib'] // 1024} MiB p={old['p']}, interleaved; "
                f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
