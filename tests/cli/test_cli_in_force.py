"""`status` and `history` on the command line say received or in force, and what is pending."""

from __future__ import annotations

from gp_optout_desktop.services import patients, session as session_service
from tests.in_force_helpers import confirm


def test_status_says_received_then_in_force(cli_pm, register_dir):
    run = cli_pm
    assert run("patient", "add", "--nhs", "999 000 0018", "--surname", "Cli", "--forenames", "Pat",
               "--dob", "1980-01-01", "--postcode", "ls14ap")[0] == 0
    assert run("object", "--nhs", "9990000018", "--via", "post")[0] == 0
    code, out, _ = run("status", "--nhs", "9990000018")
    assert code == 0 and "Received, not yet in force: Objection received. Not yet in force" in out
    assert "Pending: the practice manager adds the code in the clinical system" in out
    assert "stays in the practice" not in out
    code, out, _ = run("history", "--nhs", "9990000018")
    assert code == 0 and out.rstrip().endswith("not yet coded")

    pm = session_service.unlock(register_dir, "pm", "pm-password-1")
    try:
        confirm(pm, patients.by_nhs(pm, "9990000018").patient_id)
    finally:
        pm.lock()
    code, out, _ = run("status", "--nhs", "9990000018")
    assert code == 0 and "In force: Their GP data stays in the practice: the Type 1 code was confirmed" in out
    assert "Pending" not in out
    code, out, _ = run("history", "--nhs", "9990000018")
    assert "confirmed" in out and "(reconciliation test)" in out
