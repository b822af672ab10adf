"""The demo register: synthetic, realistic, and every queued letter printable."""

from gp_optout_desktop.domain import nhs_number
from gp_optout_desktop.services import letters, patients


def test_demo_patients_are_synthetic_and_every_pending_letter_prints(demo, tmp_path):
    rows = patients.find(demo, "999", limit=300)
    assert rows and all(r.nhs_number.startswith("999") and nhs_number.is_valid(r.nhs_number) for r in rows)
    pending = letters.pending(demo)
    assert pending, "a demo register has letters waiting, some overdue"
    change = letters.print_batch(demo, tmp_path / "all.pdf")  # all pending, all or nothing
    assert (tmp_path / "all.pdf").stat().st_size > 0 and change.letter_ids
    assert letters.pending(demo) == []


def test_demo_generated_in_chunks_gives_every_patient_a_number(manager):
    """A register built in several calls (as the UI benchmark builds its 1,000,000) numbers
    every patient, each number distinct, valid and synthetic: a later call carries on after
    the earlier patients instead of running off the end of its numbers."""
    from gp_optout_desktop.services import demo as demo_service

    for seed in (1, 2, 3):
        demo_service.generate(manager, 400, seed=seed)
    with manager.register.reading() as conn:
        rows = conn.execute("SELECT id, nhs FROM patients ORDER BY id").fetchall()
    assert len(rows) == 1200
    assert all(nhs is not None for _, nhs in rows), "patients from the 2nd and 3rd calls had no NHS number"
    numbers = [nhs for _, nhs in rows]
    assert len(set(numbers)) == 1200
    assert numbers == nhs_number.synthetic_range(1200)
    assert all(n.startswith("999") and nhs_number.is_valid(n) for n in numbers)
