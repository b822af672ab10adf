"""The policy-change mailing through a real register: one letter to every patient whose Type 1
objection is in force (code confirmed), none to objections only received or marked, none to
withdrawals; refused until the practice has written its own wording; from the CLI too."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.letters.templates import load_template
from gp_optout_desktop.services import audit, letters, objections, patients, templates
from gp_optout_desktop.services.session import Session
from gp_optout_desktop.store import letters_repo
from tests.in_force_helpers import confirm

from .helpers import pdf_text

OWN_WORDS = "From 1 April 2027 Type 1 objections are replaced by the National Data Opt-out."


def _own_wording() -> str:
    return load_template("policy_change").source.replace(
        "PRACTICE MANAGER: replace this paragraph with what has changed, from when, and what happens to the "
        "patient's Type 1 objection. The register refuses to queue this letter until the practice has saved "
        "its own wording.", OWN_WORDS)


def _register(manager, add_patient) -> dict[str, int]:
    """In force: two; received only, marked only, withdrawn (confirmed) and Type 2 only: none."""
    people = {name: add_patient(manager, surname=name) for name in
              ("Inforce", "Alsoinforce", "Received", "Marked", "Withdrawn", "Typetwo")}
    for name in ("Inforce", "Alsoinforce", "Received", "Marked"):
        objections.record(manager, people[name])
    objections.record(manager, people["Withdrawn"], effective=date(2020, 1, 1), received=date(2020, 1, 1))
    objections.record(manager, people["Withdrawn"], action="withdraw")
    # A Type 2 can only have been added on or before 11 Oct 2018: keyed then, not today.
    then = Session(manager.register, manager.user, manager.role,
                   clock=lambda: datetime(2018, 10, 11, 12, tzinfo=timezone.utc))
    objections.record(then, people["Typetwo"], "type2", effective=date(2016, 5, 1), received=date(2016, 5, 1))
    for name in ("Inforce", "Alsoinforce", "Withdrawn", "Typetwo"):
        confirm(manager, people[name])
    objections.mark_coded(manager, patients.view(manager, people["Marked"]).history[0].event_id)
    return people


def test_one_letter_to_each_objector_in_force_and_no_one_else(manager, add_patient, tmp_path):
    people = _register(manager, add_patient)
    with manager.read("view_letters") as conn:
        in_force = letters_repo.in_force_type1_count(conn)
    assert in_force == 2 == letters.policy_change_audience(manager)

    # The installed wording has a paragraph for the practice to write: refused, nothing queued.
    with pytest.raises(ValidationError, match="Write the policy-change letter first"):
        letters.queue_policy_change(manager)
    assert not [p for p in letters.pending(manager) if p.kind == "policy_change"]
    templates.save_template(manager, "policy_change", _own_wording())

    change = letters.queue_policy_change(manager)
    assert change.data["count"] == 2 and "Queued 2 policy-change letters" in change.summary
    queued = sorted(p.patient_id for p in letters.pending(manager) if p.kind == "policy_change")
    assert queued == sorted([people["Inforce"], people["Alsoinforce"]])
    again = letters.queue_policy_change(manager)  # still waiting: not queued twice
    assert again.data["count"] == 0
    (row,) = [r for r in audit.query(manager, action="letter.queue_policy_change")][:1]
    assert "letters=" in row.detail and row.patient == ""

    ids = [p.letter_id for p in letters.pending(manager) if p.kind == "policy_change"]
    letters.print_batch(manager, tmp_path / "policy.pdf", letter_ids=ids)
    text = " ".join(" ".join(pdf_text(tmp_path / "policy.pdf")).split())
    assert text.count(OWN_WORDS) == 2 and "PRACTICE MANAGER" not in text
    assert "Type 1 opt-outs may be discontinued in future" in text and "Inforce" in text and "Received" not in text


def test_policy_change_from_the_cli(cli_pm):
    run = cli_pm
    assert run("patient", "add", "--nhs", "999 000 0018", "--surname", "Cli", "--forenames", "Pat",
               "--dob", "1980-01-01", "--postcode", "ls14ap")[0] == 0
    assert run("object", "--nhs", "9990000018", "--via", "post")[0] == 0
    code, out, _ = run("letters", "policy-change")
    assert code == 0 and "0 patients have a Type 1 objection in force" in out  # received, not in force
    code, _, err = run("letters", "policy-change", "--yes")
    assert code == 2 and "Write the policy-change letter first" in err


def test_letter_writes_here_leave_the_register_attributable(manager, add_patient, tmp_path):
    # Acknowledgement printed (its kind changed, a confirmation queued), a superseded
    # confirmation dropped, a confirmation printed, a policy-change mailing queued: a practice
    # manager's audit verify still finds every table matching its signed entries.
    people = _register(manager, add_patient)
    letters.print_batch(manager, tmp_path / "acks.pdf")
    objections.record(manager, people["Received"], action="withdraw")
    confirm(manager, people["Received"])
    confirm(manager, people["Marked"])
    letters.print_batch(manager, tmp_path / "confirmations.pdf")
    templates.save_template(manager, "policy_change", _own_wording())
    letters.queue_policy_change(manager)
    assert any(r.action == "letter.cancel" for r in audit.query(manager, action="letter."))
    result = audit.verify(manager)
    assert result.ok, result.problems
