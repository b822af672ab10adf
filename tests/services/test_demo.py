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
