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


def _register_rows(session) -> dict[str, list[tuple]]:
    with session.register.reading() as conn:
        return {table: conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
                for table, order in (("patients", "id"), ("events", "id"), ("current_state", "patient_id, kind"),
                                     ("letters", "id"))}


def test_the_demo_gives_the_same_register_however_it_is_chunked(manager, tmp_path):
    """2,500 patients in one call, and in five uneven calls whose ends fall inside households
    and across the generator's 1,024-patient blocks: the same patients, events (ids, forms,
    dependants' forms from an earlier call), states and letters, row for row."""
    from datetime import date, datetime, timezone

    from gp_optout_desktop.services import demo as demo_service, setup

    other, _recovery = setup.create_register(tmp_path / "chunked", ods="F84003", practice=setup.practice_details(
        name="Test Surgery"), user="pm", password="pm-password-1")
    fixed = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)  # created_at is the call's time: one for both
    manager.clock = other.clock = lambda: fixed
    today = date(2026, 11, 30)
    whole = demo_service.generate(manager, 2500, seed=77, today=today)
    one = _register_rows(manager)
    # A cut between an adult and a child their form covered: the child's event, made by the
    # next call, must carry the form of the adult's event made by the earlier one.
    dependants = [(e[11], e[1]) for e in one["events"] if e[11] is not None and e[1] > 1100]
    assert dependants, "no covered dependant to cut at"
    adult, child = dependants[0]
    ends = sorted({1, 1023, 1024, child - 1, 2500})  # 1024: the generator's block end
    assert adult <= child - 1 < child
    parts = [demo_service.generate(other, b - a, seed=77, today=today) for a, b in zip([0] + ends, ends)]
    try:
        chunked = _register_rows(other)
        assert len(one["patients"]) == 2500 and len(one["events"]) > 300 and len(one["letters"]) > 150
        for table in one:
            assert chunked[table] == one[table], f"{table} differs when generated in chunks"
        for key in ("patients", "type1_active", "withdrawn", "type2", "proxies", "dependants"):
            assert sum(p[key] for p in parts) == whole[key], key
    finally:
        other.lock()


def test_another_seed_gives_another_register(manager, tmp_path):
    from datetime import date

    from gp_optout_desktop.services import demo as demo_service, setup

    other, _recovery = setup.create_register(tmp_path / "other", ods="F84003", practice=setup.practice_details(
        name="Test Surgery"), user="pm", password="pm-password-1")
    try:
        demo_service.generate(manager, 300, seed=1, today=date(2026, 11, 30))
        demo_service.generate(other, 300, seed=2, today=date(2026, 11, 30))
        one, two = _register_rows(manager), _register_rows(other)
        assert [r[3:5] for r in one["patients"]] != [r[3:5] for r in two["patients"]]  # surnames, forenames
    finally:
        other.lock()


def test_demo_keys_and_addresses_are_what_the_register_would_store(manager):
    """The generator builds each postcode's search key and each address's JSON by joining
    pre-encoded parts (speed); every stored value must equal what postcode.search_key,
    json.dumps and the surname key give for the same patient, as one added at the desk."""
    import json

    from gp_optout_desktop.domain import postcode
    from gp_optout_desktop.services import demo as demo_service
    from gp_optout_desktop.store import patients as patients_store

    demo_service.generate(manager, 3000)
    with manager.register.reading() as conn:
        rows = conn.execute("SELECT postcode, postcode_key, address, surname, surname_key FROM patients").fetchall()
    assert len(rows) == 3000
    for pc, pc_key, address, surname, s_key in rows:
        assert pc_key == postcode.search_key(pc) and postcode.validate(pc)
        assert address == json.dumps(json.loads(address), ensure_ascii=False)
        assert s_key == patients_store.surname_key(surname)
    assert {json.loads(a)[0].split(" ", 1)[1] for _, _, a, _, _ in rows} == set(demo_service.STREETS)
