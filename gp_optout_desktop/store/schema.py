"""Schema versions and migrations (PRAGMA user_version).

Plain SQL steps rather than SQLAlchemy/Alembic: see docs/adr/0002-plain-sql-migrations.md.
The register file is copied aside before any migration; a register written by a newer
version is refused rather than guessed at.
"""

from __future__ import annotations

V1 = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE users(
    name TEXT PRIMARY KEY, role TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL, created_by TEXT NOT NULL);
CREATE TABLE patients(
    id INTEGER PRIMARY KEY,
    nhs TEXT UNIQUE,
    title TEXT NOT NULL DEFAULT '', surname TEXT NOT NULL, forenames TEXT NOT NULL,
    surname_key TEXT NOT NULL, dob TEXT NOT NULL,
    address TEXT NOT NULL DEFAULT '[]', postcode TEXT NOT NULL, postcode_key TEXT NOT NULL,
    phone TEXT NOT NULL DEFAULT '', email TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL, created_by TEXT NOT NULL);
CREATE INDEX patients_surname ON patients(surname_key, forenames);
CREATE INDEX patients_dob ON patients(dob, surname_key, forenames);
CREATE INDEX patients_postcode ON patients(postcode_key, surname_key, forenames);
CREATE TABLE events(
    id INTEGER PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES patients(id),
    kind TEXT NOT NULL CHECK (kind IN ('type1', 'type2', 'include')),
    action TEXT NOT NULL CHECK (action IN ('register', 'withdraw')),
    effective TEXT NOT NULL, received TEXT NOT NULL, via TEXT NOT NULL,
    proxy_role TEXT, proxy_name TEXT, proxy_evidence TEXT, proxy_verified_by TEXT,
    submitted_by INTEGER REFERENCES patients(id),
    form_id INTEGER NOT NULL,
    recorded_by TEXT NOT NULL, recorded_at TEXT NOT NULL,
    coded_at TEXT, coded_by TEXT);
CREATE INDEX events_patient ON events(patient_id, kind, effective, id);
CREATE INDEX events_form ON events(form_id);
-- Derived from events (latest wins), rewritten for a patient in the same transaction
-- as each of their events, so exports and counts need not replay 1,000,000 histories.
CREATE TABLE current_state(
    patient_id INTEGER NOT NULL, kind TEXT NOT NULL, active INTEGER NOT NULL,
    since TEXT, event_id INTEGER,
    PRIMARY KEY (patient_id, kind)) WITHOUT ROWID;
CREATE INDEX current_active ON current_state(kind, active);
CREATE TABLE policy(
    id INTEGER PRIMARY KEY, state TEXT NOT NULL CHECK (state IN ('on', 'off')),
    effective TEXT NOT NULL, reason TEXT NOT NULL, recorded_by TEXT NOT NULL, recorded_at TEXT NOT NULL);
CREATE TABLE letters(
    id INTEGER PRIMARY KEY, patient_id INTEGER NOT NULL REFERENCES patients(id),
    form_id INTEGER, kind TEXT NOT NULL,
    queued_at TEXT NOT NULL, due TEXT NOT NULL, sent_at TEXT,
    template_version TEXT, printed_count INTEGER NOT NULL DEFAULT 0);
CREATE INDEX letters_pending ON letters(sent_at, due);
CREATE INDEX letters_patient ON letters(patient_id);
CREATE TABLE signposts(
    id INTEGER PRIMARY KEY, patient_id INTEGER NOT NULL REFERENCES patients(id),
    on_date TEXT NOT NULL, recorded_by TEXT NOT NULL, recorded_at TEXT NOT NULL);
CREATE TABLE audit(
    seq INTEGER PRIMARY KEY, at TEXT NOT NULL, user TEXT NOT NULL, role TEXT NOT NULL,
    action TEXT NOT NULL, patient TEXT NOT NULL, outcome TEXT NOT NULL,
    workstation TEXT NOT NULL, detail TEXT NOT NULL, prev TEXT NOT NULL, mac TEXT NOT NULL);
CREATE INDEX audit_patient ON audit(patient);
CREATE INDEX audit_at ON audit(at);
"""

# The practice's own wording of its letters: in the register rather than beside the app, so an
# installation folder that users cannot write to (Program Files) is never written, and the
# wording is encrypted, backed up and restored with the register it belongs to.
V2 = """
CREATE TABLE letter_templates(
    kind TEXT PRIMARY KEY, version INTEGER NOT NULL, text TEXT NOT NULL,
    saved_by TEXT NOT NULL, saved_at TEXT NOT NULL);
"""

# When the Type 1 code was found in the clinical system's own export (a reconciliation, or
# an import from that export). coded_at/coded_by stay the manual "marked as coded" tick,
# which is a claim, not a proof: an event is in force only once confirmed_at is set.
V3 = """
ALTER TABLE events ADD COLUMN confirmed_at TEXT;
ALTER TABLE events ADD COLUMN confirmed_by TEXT;
"""

# The key hierarchy (docs/adr/0006): each audit entry is signed by its writer's own key
# (signer: their certificate's serial), names the permission it was made under, and carries
# the change it made to the attested tables' digests (rows); user_certs holds the user
# records signed by the manager key. Entries from before keep their HMAC (signer '').
V4 = """
ALTER TABLE audit ADD COLUMN signer TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN perm TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN rows TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN sig TEXT NOT NULL DEFAULT '';
CREATE TABLE user_certs(serial INTEGER PRIMARY KEY, name TEXT NOT NULL, body TEXT NOT NULL, sig TEXT NOT NULL);
CREATE INDEX user_certs_name ON user_certs(name, serial);
"""

# Coding in the clinical system (issue 10). practice_codes: the practice-wide opt-out as GPs
# applied it, one row per code to add (turned on) or remove (lifted) for one patient, kept
# apart from individual objection events. reconciliations: each run against the clinical
# system's export, with its counts (a)-(d) and the oldest date in (a), so the overview can say
# whether anything not coded is past the coding target without re-running it.
V5 = """
CREATE TABLE practice_codes(
    id INTEGER PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES patients(id),
    policy_id INTEGER NOT NULL REFERENCES policy(id),
    op TEXT NOT NULL CHECK (op IN ('add', 'remove')),
    effective TEXT NOT NULL, queued_at TEXT NOT NULL,
    confirmed_at TEXT, confirmed_by TEXT);
CREATE INDEX practice_codes_patient ON practice_codes(patient_id, id);
CREATE TABLE reconciliations(
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, run_by TEXT NOT NULL, source TEXT NOT NULL,
    encoding TEXT NOT NULL, delimiter TEXT NOT NULL, rows INTEGER NOT NULL,
    not_coded INTEGER NOT NULL, not_in_register INTEGER NOT NULL, differ INTEGER NOT NULL,
    agree INTEGER NOT NULL, rows_not_in_register INTEGER NOT NULL, rows_differ INTEGER NOT NULL,
    rows_agree INTEGER NOT NULL, confirmed INTEGER NOT NULL, not_coded_oldest TEXT);
"""

# The practice's corrections of the objection code table (issue 10 section 6): every saved
# version kept, newest in force; text NULL means "back to the table shipped with the release".
V6 = """
CREATE TABLE code_tables(
    version INTEGER PRIMARY KEY, text TEXT, reason TEXT NOT NULL,
    saved_by TEXT NOT NULL, saved_at TEXT NOT NULL);
"""

# V7 is reserved for a branch of this release that may need one.
V7 = "-- reserved"

# Registration with the practice, as the clinical system's patient list says (practice_list
# import). A patient with no row is taken as registered (every register before this version).
V8 = """
CREATE TABLE registration(
    patient_id INTEGER PRIMARY KEY REFERENCES patients(id),
    status TEXT NOT NULL CHECK (status IN ('registered', 'deducted', 'deceased', 'temporary', 'merged')),
    since TEXT, died_on TEXT, reregistered_on TEXT, merged_into INTEGER REFERENCES patients(id),
    updated_at TEXT NOT NULL, updated_by TEXT NOT NULL);
CREATE INDEX registration_status ON registration(status);
"""

# Index i holds the SQL that takes a register from version i to i + 1.
MIGRATIONS: list[str] = [V1, V2, V3, V4, V5, V6, V7, V8]
LATEST = len(MIGRATIONS)
