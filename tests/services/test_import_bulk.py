"""The objections import writes in bulk on a register file (issue 13): the new patients in one
insert, every event in one insert already coded and confirmed, current_state worked out from the
histories the plan read (in the desktop app, only each known patient's newest event of each kind,
sent from the planning process) and the events just added. The result must be exactly what the store's one-at-a-time
functions gave for each patient in turn (``_one_at_a_time``, the code it replaced): the same
ids, rows, audit entries and signed digests, for new patients, known patients with an earlier
history (withdrawn, re-registered, Type 2 only, every row already recorded), several rows per
patient and a tie on the effective date."""

from __future__ import annotations

from datetime import date, datetime, timezone
from itertools import islice

import pytest

from gp_optout_desktop.domain.nhs_number import iter_synthetic
from gp_optout_desktop.services import audit, demo, importer, objections, patients, setup
from gp_optout_desktop.store import bulk, events as events_store, patients as patients_store
from gp_optout_desktop.store.backend import FileStore
from tests.services.test_import import csv_text

NOW = datetime(2025, 3, 20, 12, tzinfo=timezone.utc)
NEW = list(islice(iter_synthetic(640_000), 6))  # above every other test's numbers
AGAIN = list(islice(iter_synthetic(650_000), 1))[0]  # the re-registered patient, added by hand


def _newest_only(real):
    """``real`` import_coded, checking it was handed what the child sends: of each known patient's
    history only events.Ordered (its newest event of each kind), never the whole history."""
    def run(self, items, **kw):
        assert all(isinstance(e, events_store.Ordered) for *_rest, history in items for e in history)
        assert all(len({e.kind for e in history}) == len(history) for *_rest, history in items)
        return real(self, items, **kw)
    return run


def _one_at_a_time(self, items, *, by, at):
    """FileStore.import_coded as it was before the bulk write: the reference."""
    out = []
    for known_id, patient, fresh, _history in items:
        pid = known_id if known_id is not None else patients_store.insert(self.conn, patient, by=by, at=at)
        made = []
        for event in fresh:
            event_id = events_store.insert(self.conn, pid, event, events_store.next_form_id(self.conn))
            events_store.mark_coded(self.conn, event_id, by=by, at=at)
            events_store.mark_confirmed(self.conn, event_id, by="import", at=at)
            made.append(event_id)
        if fresh:
            events_store.refresh_current_state(self.conn, pid)
        out.append((pid, made))
    return out


def _register(folder, with_history: bool):
    """A register made the same way each time (same clock, same demo seed, same objections)."""
    session, _ = setup.create_register(folder, ods="F84003", practice=setup.practice_details(name="Bulk"),
                                       user="pm", password="pm-password-1")
    session.clock = lambda: NOW
    if with_history:
        demo.generate(session, 300, seed=11)
        pid = patients.add(session, surname="Again", forenames="Rhys", dob="1966-06-16", postcode_raw="CF10 1AA",
                           nhs=AGAIN).data["patient_id"]
        for action, day in (("register", date(2019, 1, 7)), ("withdraw", date(2020, 2, 3)),
                            ("register", date(2021, 4, 5))):  # objected, withdrew, objected again
            objections.record(session, pid, "type1", action, effective=day, received=day, via="post")
    return session


def _known(session) -> dict[str, list]:
    """Demo patients in each state the import meets: Type 1 in force, withdrawn, Type 2 only, none."""
    with session.register.reading() as conn:
        def pick(where):
            return conn.execute("SELECT nhs, surname, forenames, dob, postcode FROM patients WHERE nhs IS NOT NULL"
                                f" AND {where} ORDER BY id LIMIT 2").fetchall()
        picked = {
            "active": pick("id IN (SELECT patient_id FROM current_state WHERE kind = 'type1' AND active = 1)"),
            "withdrawn": pick("id IN (SELECT patient_id FROM current_state WHERE kind = 'type1' AND active = 0)"),
            "type2": pick("id IN (SELECT patient_id FROM current_state WHERE kind = 'type2') AND id NOT IN"
                          " (SELECT patient_id FROM current_state WHERE kind = 'type1')"),
            "none": pick("id NOT IN (SELECT patient_id FROM current_state)"),
            "again": conn.execute("SELECT nhs, surname, forenames, dob, postcode FROM patients WHERE nhs = ?",
                                  (AGAIN,)).fetchall(),
        }
        others = {person[0] for people in picked.values() for person in people}
        recorded = conn.execute("SELECT p.nhs, p.surname, p.forenames, p.dob, p.postcode, e.effective FROM events e"
                                " JOIN patients p ON p.id = e.patient_id WHERE e.kind = 'type1' AND"
                                " e.action = 'register' AND p.nhs IS NOT NULL ORDER BY e.id").fetchall()
        picked["history"] = [next(r for r in recorded if r[0] not in others)]
        return picked


def _csv(known) -> str:
    def row(person, code, day):
        nhs, surname, forenames, dob, postcode = person[:5]
        return f'{nhs},"{surname}","{forenames}",{dob},{postcode},,{code},{day}'

    rows = [row((NEW[0], "Ó Súilleabháin", "Siân", "1950-02-03", "LL30 1AA"), "9Nu0.", "2014-01-06"),
            row((NEW[0], "Ó Súilleabháin", "Siân", "1950-02-03", "LL30 1AA"), "XaZ8a", "2016-05-01"),
            row((NEW[0], "Ó Súilleabháin", "Siân", "1950-02-03", "LL30 1AA"), "827241000000103", "2022-02-02"),
            row((NEW[1], "Evans", "Ifan", "1975-01-01", "LS1 4AP"), "9Nu4.", "2015-03-12"),  # Type 2 only
            row((NEW[2], "Jones", "Megan", "1982-09-09", "CF10 1AA"), "827241000000103", "2021-06-20"),
            row((NEW[2], "Jones", "Megan", "1982-09-09", "CF10 1AA"), "827261000000102", "2021-06-20")]  # same day
    for person in known.get("active", []):
        rows += [row(person, "XaZ8a", "2024-11-01")]  # withdraws now
    for person in known.get("withdrawn", []):
        rows += [row(person, "827241000000103", "2024-12-24"), row(person, "9Nu4.", "2017-01-01")]
    for person in known.get("type2", []) + known.get("none", []):
        rows += [row(person, "9Nu0.", "2023-03-03")]
    for person in known.get("again", []):  # one row already recorded (skipped), one new withdrawal
        rows += [row(person, "9Nu0.", "2019-01-07"), row(person, "9Nu1.", "2024-01-15")]
    for person in known.get("history", []):  # every row already recorded: no events, no refresh
        rows += [row(person, "9Nu0.", person[5])]
    rows += [row((NEW[3], "Ng", "Al", "1990-10-10", "M1 1AE"), "9Nu0.", "2020-08-08")]
    header = "NHS Number,Surname,Forename(s),Date of Birth,Postcode,Address Line 1,Clinical Code,Code Date"
    return csv_text(*rows, header=header)


def _tables(session) -> dict:
    with session.register.reading() as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY {key}").fetchall()
                for t, key in (("patients", "id"), ("events", "id"), ("current_state", "patient_id, kind"),
                               ("letters", "id"), ("registration", "patient_id"))}


def _entries(session, after: int) -> list:
    """The import's audit entries: what they say and the digests they sign (not when, nor the keys' MACs)."""
    with session.register.reading() as conn:
        return conn.execute("SELECT seq, user, role, action, patient, outcome, detail, perm, rows FROM audit"
                            " WHERE seq > ? ORDER BY seq", (after,)).fetchall()


@pytest.mark.parametrize("with_history", [True, False], ids=["known-patients", "empty-register"])
def test_the_bulk_import_gives_the_rows_ids_audit_and_digest_of_one_at_a_time(tmp_path, monkeypatch, with_history):
    from gp_optout_desktop import child_task

    seen = {}
    for way in ("reference", "bulk", "bulk-apart"):
        # bulk-apart: the desktop app's way, planned in a child process that sends of each known
        # patient's history only its newest event of each kind (importer._newest)
        child_task.enable(way == "bulk-apart")
        session = _register(tmp_path / way, with_history)
        known = _known(session) if with_history else {}
        # every state the import meets is there
        assert not with_history or all(known.values()), {k: len(v) for k, v in known.items()}
        text = _csv(known)
        with session.register.reading() as conn:
            before = conn.execute("SELECT max(seq) FROM audit").fetchone()[0]
        written, fast = [], []
        with monkeypatch.context() as m:
            real = _one_at_a_time if way == "reference" else FileStore.import_coded
            if way == "bulk-apart":  # the store gets the child's items: newest events only, no full histories
                real = _newest_only(real)
            m.setattr(FileStore, "import_coded", lambda self, items, **kw: written.append(real(self, items, **kw))
                      or written[-1])
            stored_as_given = bulk._stored_as_given
            m.setattr(bulk, "_stored_as_given", lambda conn, table, cols, rows:
                      fast.append((table, stored_as_given(conn, table, cols, rows))) or fast[-1][1])
            change = importer.import_objections(session, text)
        assert audit.verify(session).ok  # the signed digests add up to the tables as they are
        assert len(written) == 1  # one call to the store for the whole import
        seen[way] = (written[0], change.summary, _tables(session), _entries(session, before))
        if way != "reference":  # the events and states were hashed in Python, not logged by the triggers
            assert fast == [("patients", True), ("events", True), ("current_state", True)]
        else:
            assert fast == []
        session.lock()
    child_task.shutdown()
    child_task.enable(False)

    reference = seen["reference"]
    for way in ("bulk", "bulk-apart"):
        bulk_ = seen[way]
        assert bulk_[0] == reference[0], way  # [(patient id, [event ids])]
        assert bulk_[1] == reference[1], way
        for table in reference[2]:
            assert bulk_[2][table] == reference[2][table], (way, table)
        assert bulk_[3] == reference[3], way
    # It did what it says: some known patients got nothing new, and new patients several events.
    assert any(ids == [] for _pid, ids in reference[0]) == with_history
    assert any(len(ids) == 3 for _pid, ids in reference[0])
    assert "patient.create" in {e[3] for e in reference[3]} and "type1.withdraw" in {e[3] for e in reference[3]}
