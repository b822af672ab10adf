"""SIGKILL a writer at random moments: every acknowledged objection survives and the register verifies."""

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from gp_optout_desktop.services import audit, patients, session as session_service

WRITER = r"""
import sys
from gp_optout_desktop.domain import nhs_number
from gp_optout_desktop.services import objections, patients, session
folder, start = sys.argv[1], int(sys.argv[2])
s = session.unlock(folder, "pm", "pm-password-1")
for i, nhs in enumerate(nhs_number.iter_synthetic(start)):
    pid = patients.add(s, surname="Durable", forenames=f"N{i}", dob="1980-01-01", postcode_raw="LS1 4AP", nhs=nhs).data["patient_id"]
    objections.record(s, pid)
    print(nhs, flush=True)  # acknowledged only after the commit returned
"""


@pytest.mark.slow
@pytest.mark.posix_only(reason="SIGKILL does not exist on Windows (os.kill there is TerminateProcess)")
def test_acknowledged_objections_survive_sigkill(manager, register_dir):
    manager.lock()
    rng = random.Random(7)
    acknowledged: list[str] = []
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    for round_no in range(6):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(register_dir), str(600_000 + round_no * 10_000)],
                                stdout=subprocess.PIPE, text=True, env=env)
        # The kill comes at a random moment after the writer's first acknowledgement, not after
        # a fixed time from its start: on a loaded machine the start (imports, Argon2) alone
        # can take longer than the window, and then nothing would be tested.
        first = proc.stdout.readline()
        time.sleep(rng.uniform(0.1, 1.2))
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        acknowledged += [line for line in (first + out).splitlines() if line.strip()]
    assert len(acknowledged) > 10, "the writer must have committed something before being killed"
    session = session_service.unlock(register_dir, "pm", "pm-password-1")
    for nhs in acknowledged:
        record = patients.view(session, patients.by_nhs(session, nhs).patient_id)
        assert record.statuses["type1"].active, "an acknowledged objection was lost"
    assert audit.verify(session).ok
    session.lock()
