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


def test_a_ten_patient_demo_has_objections_and_letters(tmp_path):
    """`demo --patients 10`: whatever the draw, an objection whose letter is still due (to print)
    and one whose letter went out."""
    from gp_optout_desktop.domain import codes
    from gp_optout_desktop.services import demo as demo_service

    for seed in (2014, 1, 2, 3):
        session, _recovery, stats = demo_service.create_demo(tmp_path / f"r{seed}", 10, seed=seed)
        try:
            assert stats["patients"] == 10 and stats["type1_active"] >= 1
            records = [patients.view(session, row.patient_id) for row in patients.find(session, "999", limit=10)]
            assert len(records) == 10
            objecting = [r for r in records if r.statuses[codes.TYPE1].active]
            assert objecting, f"seed {seed}: nobody objects"
            assert any(letter["sent_at"] for r in objecting for letter in r.letters), f"seed {seed}: no letter sent"
            assert letters.pending(session), f"seed {seed}: no letter waiting"
            letters.print_batch(session, tmp_path / f"r{seed}.pdf")
            assert letters.pending(session) == []
        finally:
            session.lock()
