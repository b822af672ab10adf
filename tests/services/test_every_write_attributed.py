"""Every write path of the services leaves the register attributable (docs/adr/0006): after a
demo load, an import, settings, templates, patient edits, objections, the practice-wide
policy, letters, a backup, an export and user changes, made by the roles allowed to make
them, a practice manager's ``audit verify`` finds every table matching its signed entries."""

from __future__ import annotations

from datetime import date

from gp_optout_desktop.domain import nhs_number, roles
from gp_optout_desktop.services import (audit, backup, exclusion, importer, letters, objections, patients,
                                        session as session_service, settings, templates, users)


def test_every_service_write_verifies_clean(demo, register_dir, tmp_path):
    pm = demo
    numbers = nhs_number.iter_synthetic(700_000)
    n1, n2 = next(numbers), next(numbers)
    text = ("\ufeffNHS Number,Surname,Forename(s),Date of Birth,Postcode,Address Line 1,Clinical Code,Code Date\r\n"
            f"{n1},Imported,Ann,1950-02-03,LS1 4AP,,9Nu0.,2014-01-06\r\n"
            f"{n2},Imported,Bob,1975-01-01,LS1 4AP,,9Nu4,2015-03-12\r\n")
    importer.import_objections(pm, text)
    settings.set_idle_lock_minutes(pm, 7)
    settings.set_practice_details(pm, name="Renamed Surgery", address=["2 Road"], phone="01632 960002",
                                  email="new@example.invalid")
    objection = templates.current(pm, "objection")
    templates.save_template(pm, "objection", objection.template.source.rstrip() + "\n\nThank you.\n")
    templates.use_installed(pm, "objection")
    pid = patients.find_ids(pm, "Imported")[0]
    patients.edit(pm, pid, surname="Imported", forenames="Ann", dob="1950-02-03", postcode_raw="LS1 4AP", nhs=n1,
                  phone="01632 960123")
    users.add(pm, "desk9", roles.RECEPTIONIST, "desk9-password-1")
    users.add(pm, "gp9", roles.GP, "gp9-password-1")
    backup.backup(pm, tmp_path / "b.gpob")
    exclusion.export(pm, tmp_path / "x")
    pending = letters.pending(pm)
    if pending:
        letters.mark_sent(pm, [p.letter_id for p in pending[:3]], date.today())
    pm.lock()

    desk = session_service.unlock(register_dir, "desk9", "desk9-password-1")
    other = patients.add(desk, surname="Desk", forenames="Added", dob="1990-01-01", postcode_raw="LS1 4AP",
                         nhs=next(numbers)).data["patient_id"]
    change = objections.record(desk, other)
    objections.signpost_ndoo(desk, other)
    desk.lock()
    gp = session_service.unlock(register_dir, "gp9", "gp9-password-1")
    exclusion.set_practice_optout(gp, "on", "Partners meeting")
    gp.lock()
    del change

    pm = session_service.unlock(register_dir, "manager", "manager-demo-pass")
    try:
        exclusion.replace_signing_key(pm)
        users.change_role(pm, "desk9", roles.GP)
        users.remove(pm, "gp9")
        result = audit.verify(pm)
        assert result.ok, result.problems
    finally:
        pm.lock()
