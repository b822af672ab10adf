"""The seam between the desk's core services and the engine that keeps the register (ADR 0015).

``RegisterStore`` is what services/patients.py and services/objections.py ask of a register, on
one transaction (a write) or one read. Two engines implement it:

- ``FileStore`` (here): the SQLCipher register file, by the existing store modules;
- ``store.server.desk_store.ServerStore``: a practice on the PostgreSQL server, where
  identifying fields are ciphertext and searches use blind indexes.

The services keep the permission checks, the validation, the audit entries and the wording;
a store only reads and writes rows. Both must give the same answers to the same calls
(tests/services run on both through the ``backend`` fixture).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol

from ..domain.events import Event
from ..domain.patient import Patient
from ..domain.practice_policy import PolicyChange
from . import audit as audit_store, codes_repo, users as users_store, events as events_store, letters_repo, meta, patients as patients_store, \
    policy as policy_store, registration as registration_store, templates_repo
from . import coding as coding_store, exclusion_repo as exclusion_store, overview as overview_store, \
    settings as settings_store


class RegisterStore(Protocol):
    # -- patients
    def get_patient(self, patient_id: int) -> Patient: ...
    def get_patients(self, ids: list[int]) -> dict[int, Patient]: ...
    def by_nhs(self, nhs: str) -> Patient: ...
    def insert_patient(self, patient: Patient, *, by: str, at: datetime) -> int: ...
    def update_patient(self, patient: Patient) -> None: ...
    def search_ids(self, query: patients_store.Query, limit: int) -> list[int]: ...
    def result_rows(self, ids: list[int]) -> list[patients_store.ResultRow]: ...
    def audit_ref(self, patient: Patient) -> str: ...

    # -- events
    def lock_patient(self, patient_id: int) -> None: ...
    def history(self, patient_id: int) -> list[Event]: ...
    def next_form_id(self) -> int: ...
    def insert_event(self, patient_id: int, event: Event, form_id: int) -> int: ...
    def refresh_current_state(self, patient_id: int) -> None: ...
    def patient_of_event(self, event_id: int) -> int | None: ...
    def mark_coded(self, event_id: int, *, by: str, at: datetime) -> int: ...
    def add_signpost(self, patient_id: int, on: date, *, by: str, at: datetime) -> None: ...
    def signposts(self, patient_id: int) -> list[date]: ...

    # -- letters
    def queue_letter(self, patient_id: int, form_id: int | None, kind: str, at: datetime, due: date) -> int: ...
    def letters_for(self, patient_id: int) -> list[dict]: ...
    def pending_letters(self) -> list[letters_repo.LetterRow]: ...
    def letter(self, letter_id: int) -> letters_repo.LetterRow: ...
    def form_facts(self, form_ids) -> tuple[dict[int, list], set[int], set[tuple[int, str]]]: ...
    # printing, sending, reprints (services/letters.py); NotFound for a letter not in the register
    def letters_by_id(self, letter_ids: list[int]) -> list[letters_repo.LetterRow]: ...
    def patient_letters(self, patient_id: int) -> list[letters_repo.LetterRow]: ...
    def mark_printed(self, letter_id: int, *, template_version: str, sent_on: date | None) -> None: ...
    def mark_letter_sent(self, letter_id: int, on: date) -> int: ...
    def became_acknowledgement(self, letter_id: int, kind: str, *, queued_at: datetime | None,
                               due: date | None) -> int | None: ...
    # a print run's marks in one go (on the server one statement each, not one per letter)
    def mark_printed_many(self, printed: list[tuple[int, str]], *, sent_on: date) -> None: ...
    def became_acknowledgements(self, letters: list[tuple[letters_repo.LetterRow, bool]], *, queued_at: datetime,
                                due: date) -> list[int | None]: ...
    def cancel_letter(self, letter_id: int) -> int: ...
    def in_force_type1_count(self) -> int: ...
    def queue_for_in_force_objectors(self, kind: str, *, queued_at: datetime, due: date) -> int: ...
    def queue_patient_notices(self, kind: str, *, since: datetime, queued_at: datetime, due: date,
                              born_on_or_before: date) -> int: ...
    def registration(self, patient_id: int) -> registration_store.Registration: ...
    def type1_active(self, patient_id: int) -> bool: ...
    def practice_details(self) -> dict: ...
    def policy_history(self) -> list[PolicyChange]: ...
    # the practice's own letter wording (services/templates.py)
    def saved_template(self, kind: str) -> templates_repo.SavedTemplate | None: ...
    def put_template(self, kind: str, version: int, text: str, saved_by: str, saved_at: datetime) -> None: ...
    def remove_template(self, kind: str) -> int: ...

    # overview, coding, exclusion (serverreads)
    # aggregates for the overview (services/overview.py): counts only, no identifier
    def patient_count(self) -> int: ...
    def current_counts(self) -> dict[tuple[str, bool], int]: ...
    def objecting_without_nhs_number(self) -> int: ...
    def letter_counts(self, today: date, soon: date) -> dict[str, int]: ...
    def monthly_events(self, kinds: tuple[str, ...]) -> list[tuple[str, str, int]]: ...
    def type1_coding_counts(self) -> dict[tuple[bool, str], int]: ...
    def unconfirmed_count(self) -> int: ...
    def practice_task_count(self, on: bool) -> int: ...
    def last_reconciliation(self) -> dict | None: ...
    def coding_target(self) -> int | None: ...
    def set_coding_target(self, days: int) -> None: ...
    # practice settings (services/settings.py); practice_details above reads the letterhead
    def idle_lock_minutes(self) -> int | None: ...
    def set_idle_lock_minutes(self, minutes: int) -> None: ...
    def set_practice_details(self, details: dict) -> None: ...
    # the coding worklist (services/coding.py): rows as store/coding.py gives them (ISO text)
    def unconfirmed_events(self) -> list[tuple]: ...
    def practice_latest(self, with_patient: bool = True) -> list[tuple]: ...
    def practice_newcomers(self, with_patient: bool = True) -> list[tuple]: ...
    # reconciliation (services/reconcile.py) and the practice-wide code rows (services/exclusion.py),
    # rows as store/coding.py gives them; writes inside a write's store only
    def coded_events(self) -> list[tuple]: ...
    def current_objections(self) -> list[tuple]: ...
    def patients_by_nhs(self) -> dict[str, tuple[int, str]]: ...
    def patient_rows(self, patient_ids: list[int]) -> dict[int, tuple]: ...
    def inactive_patients(self) -> set[int]: ...
    def hold_revision(self) -> int: ...
    def next_run_id(self) -> int: ...
    def insert_run(self, run: dict) -> int: ...
    def confirm_events(self, event_ids: list[int], *, by: str, at: datetime) -> int: ...
    def mark_confirmed(self, event_id: int, *, by: str, at: datetime) -> int: ...
    def confirm_practice_codes(self, row_ids: list[int], *, by: str, at: datetime) -> int: ...
    def latest_policy_id(self) -> int: ...
    def insert_practice_code(self, patient_id: int, policy_id: int, op: str, effective: date, queued_at: datetime,
                             confirmed_by: str | None = None) -> int: ...
    def practice_codes_for(self, patient_id: int) -> list[tuple]: ...
    def insert_policy(self, change: PolicyChange) -> int: ...
    def list_practice_adds(self, policy_id: int, effective: date, queued_at: datetime) -> int: ...
    def list_practice_removals(self, policy_id: int, effective: date, queued_at: datetime,
                               unlisted: bool = False) -> int: ...
    def cancel_unsent(self, kind: str) -> int: ...
    # the CSV import (services/importer.py): NHS number -> Patient for those in the register;
    # items (known patient id or None, the new Patient when it is None, [Event], history) -> (patient id, [event id])
    def patients_by_numbers(self, numbers: list[str]) -> dict[str, Patient]: ...
    def histories(self, patient_ids: list[int]) -> dict[int, list[Event]]: ...
    def import_coded(self, items: list[tuple], *, by: str, at: datetime) -> list[tuple[int, list[int]]]: ...
    # the practice list (services/practice_list.py)
    def all_patients_by_nhs(self) -> dict[str, Patient]: ...
    def registration_states(self) -> dict[int, registration_store.Registration]: ...
    def put_registrations(self, regs: list[tuple[int, registration_store.Registration]], *, by: str,
                          at: datetime) -> None: ...
    def insert_patients(self, people: list[Patient], *, by: str, at: datetime) -> list[int]: ...
    def move_history(self, from_id: int, to_id: int) -> int: ...
    # the exclusion file's snapshot (services/exclusion.py): rows as store/exclusion_repo.py gives them
    def revision(self) -> int: ...
    def audit_head(self) -> tuple[int, str] | None: ...
    def exclusion_objectors(self) -> list[tuple]: ...
    def exclusion_includers(self) -> list[tuple]: ...
    def count_type1_objectors(self) -> int: ...
    def count_includers(self) -> int: ...

    # -- the code table in force, and the practice's corrections of it (services/codes.py):
    # versions numbered from 1 in the practice, saved_at as ISO text in UTC
    def saved_code_table(self) -> str | None: ...
    def code_table_current(self) -> codes_repo.SavedTable | None: ...
    def code_table_versions(self) -> list[codes_repo.SavedTable]: ...
    def insert_code_table(self, text: str | None, reason: str, by: str, at: datetime) -> int: ...

    # -- the audit trail (services/audit.py): newest first, times as ISO text in UTC, a patient
    # named (and filtered) by NHS number or id:N, as the register file's trail names them
    def audit_rows(self, *, since: str | None, until: str | None, user: str | None, action_prefix: str | None,
                   patient: str | None, limit: int) -> list[tuple]: ...

    # -- users (services/users.py): the role is the register's, not the desk's; NotFound for
    # no active user of that name
    def active_users(self) -> list[tuple[str, str]]: ...
    def user_role(self, name: str) -> str | None: ...
    def count_role(self, role: str) -> int: ...
    def set_role(self, name: str, role: str) -> None: ...
    def deactivate_user(self, name: str) -> None: ...


class FileStore:
    """RegisterStore on a connection to the SQLCipher register file."""

    def __init__(self, conn):
        self.conn = conn

    def get_patient(self, patient_id):
        return patients_store.get(self.conn, patient_id)

    def get_patients(self, ids):
        return patients_store.get_many(self.conn, ids)

    def by_nhs(self, nhs):
        return patients_store.by_nhs(self.conn, nhs)

    def insert_patient(self, patient, *, by, at):
        return patients_store.insert(self.conn, patient, by=by, at=at)

    def update_patient(self, patient):
        patients_store.update(self.conn, patient)

    def search_ids(self, query, limit):
        return patients_store.search_ids(self.conn, query, limit)

    def result_rows(self, ids):
        return patients_store.result_rows(self.conn, ids)

    def audit_ref(self, patient):
        """The register file names a patient by NHS number, else by its own row id."""
        return patient.nhs_number or f"id:{patient.patient_id}"

    def lock_patient(self, patient_id):
        """Nothing to do: the file lets one writer in at a time (BEGIN IMMEDIATE)."""

    def history(self, patient_id):
        return events_store.history(self.conn, patient_id)

    def next_form_id(self):
        return events_store.next_form_id(self.conn)

    def insert_event(self, patient_id, event, form_id):
        return events_store.insert(self.conn, patient_id, event, form_id)

    def refresh_current_state(self, patient_id):
        events_store.refresh_current_state(self.conn, patient_id)

    def patient_of_event(self, event_id):
        return events_store.patient_of_event(self.conn, event_id)

    def mark_coded(self, event_id, *, by, at):
        return events_store.mark_coded(self.conn, event_id, by=by, at=at)

    def add_signpost(self, patient_id, on, *, by, at):
        events_store.add_signpost(self.conn, patient_id, on, by=by, at=at)

    def signposts(self, patient_id):
        return events_store.signposts(self.conn, patient_id)

    def queue_letter(self, patient_id, form_id, kind, at, due):
        return events_store.queue_letter(self.conn, patient_id, form_id, kind, at, due)

    def letters_for(self, patient_id):
        return events_store.letters_for(self.conn, patient_id)

    def pending_letters(self):
        return letters_repo.pending(self.conn)

    def letter(self, letter_id):
        return letters_repo.get(self.conn, letter_id)

    def form_facts(self, form_ids):
        return letters_repo.form_facts(self.conn, form_ids)

    def saved_code_table(self):
        saved = codes_repo.current(self.conn)
        return None if saved is None else saved.text

    def code_table_current(self):
        return codes_repo.current(self.conn)

    def code_table_versions(self):
        return codes_repo.history(self.conn)

    def insert_code_table(self, text, reason, by, at):
        return codes_repo.insert(self.conn, text, reason, by, at.isoformat())

    def letters_by_id(self, letter_ids):
        return letters_repo.get_many(self.conn, list(letter_ids))

    def patient_letters(self, patient_id):
        return letters_repo.for_patient(self.conn, patient_id)

    def mark_printed(self, letter_id, *, template_version, sent_on):
        letters_repo.mark_printed(self.conn, letter_id, template_version=template_version, sent_on=sent_on)

    def mark_letter_sent(self, letter_id, on):
        return letters_repo.mark_sent(self.conn, letter_id, on)

    def became_acknowledgement(self, letter_id, kind, *, queued_at, due):
        return letters_repo.became_acknowledgement(self.conn, letter_id, kind, queued_at=queued_at, due=due)

    def mark_printed_many(self, printed, *, sent_on):
        for letter_id, version in printed:
            letters_repo.mark_printed(self.conn, letter_id, template_version=version, sent_on=sent_on)

    def became_acknowledgements(self, letters, *, queued_at, due):
        return [letters_repo.became_acknowledgement(self.conn, row.letter_id, row.kind,
                                                    queued_at=queued_at if promise else None,
                                                    due=due if promise else None)
                for row, promise in letters]

    def cancel_letter(self, letter_id):
        return letters_repo.cancel(self.conn, letter_id)

    def in_force_type1_count(self):
        return letters_repo.in_force_type1_count(self.conn)

    def queue_for_in_force_objectors(self, kind, *, queued_at, due):
        return letters_repo.queue_for_in_force_objectors(self.conn, kind, queued_at=queued_at, due=due)

    def queue_patient_notices(self, kind, *, since, queued_at, due, born_on_or_before):
        return letters_repo.queue_patient_notices(self.conn, kind, since=since, queued_at=queued_at, due=due,
                                                  born_on_or_before=born_on_or_before)

    def registration(self, patient_id):
        return registration_store.get(self.conn, patient_id)

    def type1_active(self, patient_id):
        return events_store.type1_active(self.conn, patient_id)

    def practice_details(self):
        """The letterhead's fields and the ODS code, as services.letters.practice_details reads them."""
        data = dict(meta.get(self.conn, "practice", {}) or {})
        data["ods"] = meta.get(self.conn, "ods", "")
        return data

    def policy_history(self):
        return policy_store.history(self.conn)

    def saved_template(self, kind):
        return templates_repo.get(self.conn, kind)

    def put_template(self, kind, version, text, saved_by, saved_at):
        templates_repo.put(self.conn, kind, version, text, saved_by, saved_at)

    # overview, coding, exclusion (serverreads)
    def patient_count(self):
        return overview_store.patient_count(self.conn)

    def current_counts(self):
        return overview_store.current_counts(self.conn)

    def objecting_without_nhs_number(self):
        return overview_store.objecting_without_nhs_number(self.conn)

    def letter_counts(self, today, soon):
        return overview_store.letter_counts(self.conn, today, soon)

    def monthly_events(self, kinds):
        return overview_store.monthly_events(self.conn, kinds)

    def type1_coding_counts(self):
        return overview_store.type1_coding_counts(self.conn)

    def unconfirmed_count(self):
        return coding_store.unconfirmed_count(self.conn)

    def practice_task_count(self, on):
        return coding_store.practice_task_count(self.conn, on)

    def last_reconciliation(self):
        return coding_store.last_run(self.conn)

    def coding_target(self):
        return settings_store.coding_target_working_days(self.conn)

    def set_coding_target(self, days):
        settings_store.set_coding_target_working_days(self.conn, days)

    def idle_lock_minutes(self):
        return settings_store.idle_lock_minutes(self.conn)

    def set_idle_lock_minutes(self, minutes):
        settings_store.set_idle_lock_minutes(self.conn, minutes)

    def set_practice_details(self, details):
        settings_store.set_practice(self.conn, details)

    def unconfirmed_events(self):
        return coding_store.unconfirmed_events(self.conn)

    def practice_latest(self, with_patient=True):
        return coding_store.practice_latest(self.conn, with_patient)

    def practice_newcomers(self, with_patient=True):
        return coding_store.practice_newcomers(self.conn, with_patient)

    # reconciliation and the practice-wide code rows (srvdata15)
    def coded_events(self):
        return coding_store.coded_events(self.conn)

    def current_objections(self):
        return coding_store.current_objections(self.conn)

    def patients_by_nhs(self):
        return coding_store.patients_by_nhs(self.conn)

    def patient_rows(self, patient_ids):
        return coding_store.patient_rows(self.conn, list(patient_ids))

    def inactive_patients(self):
        return coding_store.inactive_patients(self.conn)

    def hold_revision(self):
        """The file lets one writer in at a time (BEGIN IMMEDIATE): the revision cannot move."""
        return meta.revision(self.conn)

    def next_run_id(self):
        return coding_store.next_run_id(self.conn)

    def insert_run(self, run):
        return coding_store.insert_run(self.conn, run)

    def confirm_events(self, event_ids, *, by, at):
        return coding_store.confirm_events(self.conn, list(event_ids), by=by, at=at)

    def mark_confirmed(self, event_id, *, by, at):
        return events_store.mark_confirmed(self.conn, event_id, by=by, at=at)

    def confirm_practice_codes(self, row_ids, *, by, at):
        return coding_store.confirm_practice_codes(self.conn, list(row_ids), by=by, at=at)

    def latest_policy_id(self):
        return coding_store.latest_policy_id(self.conn)

    def insert_practice_code(self, patient_id, policy_id, op, effective, queued_at, confirmed_by=None):
        return coding_store.insert_practice_code(self.conn, patient_id, policy_id, op, effective, queued_at,
                                                 confirmed_by)

    def practice_codes_for(self, patient_id):
        return coding_store.practice_codes_for(self.conn, patient_id)

    def insert_policy(self, change):
        return policy_store.insert(self.conn, change)

    def list_practice_adds(self, policy_id, effective, queued_at):
        return coding_store.list_practice_adds(self.conn, policy_id, effective, queued_at)

    def list_practice_removals(self, policy_id, effective, queued_at, unlisted=False):
        return coding_store.list_practice_removals(self.conn, policy_id, effective, queued_at, unlisted)

    def cancel_unsent(self, kind):
        return letters_repo.cancel_unsent(self.conn, kind)

    # the practice list (services/practice_list.py)
    def all_patients_by_nhs(self):
        return patients_store.all_by_nhs(self.conn)

    def registration_states(self):
        return registration_store.all_states(self.conn)

    def put_registrations(self, regs, *, by, at):
        registration_store.put_many(self.conn, regs, by=by, at=at)

    def insert_patients(self, people, *, by, at):
        """The practice list's new patients in one executemany (store/bulk: the search indexes
        built once afterwards into an empty register, rows hashed in Python for the attest
        digest) instead of two statements each: ids as SQLite would give them one by one."""
        return patients_store.insert_many(self.conn, people, by=by, at=at)

    def move_history(self, from_id, to_id):
        """A merge: the superseded record's events, letters and signposts moved to ``to_id``."""
        moved = registration_store.move_history(self.conn, from_id, to_id)
        events_store.refresh_current_state(self.conn, to_id)
        return moved

    # the CSV import (services/importer.py)
    def patients_by_numbers(self, numbers):
        """The ones in the register (a number not there yet is a patient the import adds)."""
        return patients_store.by_nhs_many(self.conn, list(numbers))

    def histories(self, patient_ids):
        return events_store.histories(self.conn, list(patient_ids))

    def import_coded(self, items, *, by, at):
        """In bulk (issue 13): the new patients in one insert_many, every event in one insert
        already coded and confirmed, then current_state for the patients given events, from
        the history each item carries (the whole history, or its newest event of each kind:
        all a state depends on) and the events just added, as the server's does: nothing read
        again. The same ids, rows and signed digest as the store's one-at-a-time functions for
        each patient in turn (tests/services/test_import_bulk.py)."""
        new_ids = iter(patients_store.insert_many(self.conn, [p for known, p, _f, _h in items if known is None],
                                                  by=by, at=at))
        pids = [known if known is not None else next(new_ids) for known, _p, _f, _h in items]
        made = events_store.insert_coded_many(self.conn, [(pid, item[2]) for pid, item in zip(pids, items)],
                                              by=by, confirmed_by="import", at=at)
        added = events_store.Ordered
        events_store.put_current_states(self.conn, [
            (pid, [*history, *(added(e.kind, e.action, e.effective, eid, eid) for e, eid in zip(fresh, ids))])
            for pid, (_known, _p, fresh, history), ids in zip(pids, items, made) if ids])
        return list(zip(pids, made))

    def revision(self):
        return meta.revision(self.conn)

    def audit_head(self):
        """(seq, mac) of the newest audit entry, as AuditChain.head reads it."""
        row = self.conn.execute("SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return (row[0], row[1]) if row else None

    def exclusion_objectors(self):
        return exclusion_store.objector_rows(self.conn)

    def exclusion_includers(self):
        return exclusion_store.includer_rows(self.conn)

    def count_type1_objectors(self):
        return exclusion_store.count_objecting_patients(self.conn)

    def count_includers(self):
        return exclusion_store.count_includers(self.conn)

    def remove_template(self, kind):
        return templates_repo.remove(self.conn, kind)

    def audit_rows(self, *, since, until, user, action_prefix, patient, limit):
        return audit_store.select(self.conn, since=since, until=until, user=user, action_prefix=action_prefix,
                                  patient=patient, limit=limit)

    def active_users(self):
        return users_store.active(self.conn)

    def user_role(self, name):
        return users_store.role_of(self.conn, name)

    def count_role(self, role):
        return users_store.count_role(self.conn, role)

    def set_role(self, name, role):
        users_store.set_role(self.conn, name, role)

    def deactivate_user(self, name):
        """The users row only: the user's key entry is in the key file (services/users.py)."""
        users_store.deactivate(self.conn, name)
