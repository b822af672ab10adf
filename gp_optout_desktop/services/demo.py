"""A demo register of synthetic patients (valid NHS numbers beginning 999 only) with a
realistic mix: Type 1 objections since 2014, withdrawals and re-objections, legacy
Type 2 before the 2018 cut-off, proxies, families submitting for dependants, and
letters both sent and still due. Deterministic for a given seed.
"""

from __future__ import annotations

import json
import random
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

from ..domain import codes, nhs_number, postcode as postcode_mod
from ..domain.events import Event, Proxy, current_status, EVENT_KINDS
from ..domain import roles
from ..store import bulk, patients as patients_store
from .objections import one_calendar_month_after
from .session import Session
from .setup import create_register, practice_details

DEMO_USERS = {
    "manager": ("manager-demo-pass", roles.MANAGER),
    "reception": ("reception-demo-pass", roles.RECEPTIONIST),
    "gp": ("gp-demo-pass", roles.GP),
}
DEMO_PRACTICE = dict(name="Riverside Demo Surgery (synthetic data)",
                     address=["1 Example Street", "Demotown"], phone="01632 960000", email="demo.surgery@example.invalid")
DEMO_ODS = "Y99999"

SURNAMES = ["Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas", "Johnson",
            "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards", "Hughes", "Green", "Hall",
            "Lewis", "Harris", "Clarke", "Patel", "Jackson", "Wood", "Turner", "Martin", "Cooper", "Hill",
            "O'Brien", "Smith-Jones", "ap Gwŷn", "Ó Súilleabháin", "Nowak", "Khan", "Begum", "Okafor", "Ng",
            "Llewelyn", "MacDonald", "D'Souza", "Øvergaard", "Müller", "Ahmed", "Chowdhury", "Kowalski", "Price"]
FORENAMES = ["Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Noah", "Mia", "Jack", "Ivy", "Leo", "Freya",
             "Siân", "Dafydd", "Gwenllïan", "Ŵyn", "Zoë", "José", "Aoife", "Chloé", "Mohammed", "Fatima", "Anne-Marie",
             "Rhys", "Ffion", "Ieuan", "Priya", "Chidi", "Wei", "Seren", "Mary", "John", "Margaret", "David"]
STREETS = ["High Street", "Station Road", "Church Lane", "Mill Road", "Park Avenue", "Heol y Llan", "Victoria Road"]
TOWNS = ["Demotown", "Exampleton", "Sampleford", "Llanddemo"]
OUTWARDS = ["SW1A", "M1", "B33", "CR2", "DN55", "EC1A", "W1A", "LS1", "CF10", "SA1", "LL57", "OX1", "E1"]


class _Rng(random.Random):
    """random.Random with cheaper choice/randint: a million patients need millions of draws."""

    def choice(self, seq):
        return seq[int(self.random() * len(seq))]

    def randint(self, a, b):
        return a + int(self.random() * (b - a + 1))


_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


def _day(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randint(0, max(0, (end - start).days)))


class _Memo(dict):
    """A few thousand distinct addresses, postcodes and dates recur across a million patients:
    work each out once (json.dumps alone was a tenth of the time at 1,000,000)."""

    def __init__(self, make):
        super().__init__()
        self.make = make

    def __missing__(self, key):
        value = self[key] = self.make(key)
        return value


def generate(session: Session, count: int, *, seed: int = 2014, today: date | None = None) -> dict:
    """Add ``count`` synthetic patients with histories, in one audited transaction."""
    today = today or session.today()
    rng = _Rng(seed)
    with session.write("add_patient") as ctx:
        conn = ctx.conn
        first_pid, first_eid = bulk.next_ids(conn)
        numbers = nhs_number.synthetic_range(min(count + first_pid, 900_000))[first_pid - 1 :]
        now = session.now().isoformat()
        patients, events, states, letters = [], [], [], []
        pid, eid, form = first_pid, first_eid, first_eid
        stats = {"patients": 0, "type1_active": 0, "withdrawn": 0, "type2": 0, "proxies": 0, "dependants": 0}
        # The draws below are exactly those of rng.choice/randint/_day, inlined: same data, half the time.
        rnd = rng.random
        addresses = _Memo(lambda k: json.dumps([f"{k[0]} {k[1]}", k[2]], ensure_ascii=False))
        pc_keys = _Memo(postcode_mod.search_key)
        surname_keys = _Memo(patients_store.surname_key)
        iso_days = _Memo(lambda ordinal: date.fromordinal(ordinal).isoformat())
        adult_first, child_first = date(1930, 1, 1).toordinal(), date(2008, 1, 1).toordinal()
        adult_span = date(2000, 12, 31).toordinal() - adult_first + 1
        child_span = max(0, (today - timedelta(days=400)).toordinal() - child_first) + 1
        sizes, n_sur, n_fore, n_str, n_town, n_out, n_in = (1, 1, 1, 2, 2, 3, 4), len(SURNAMES), len(FORENAMES), \
            len(STREETS), len(TOWNS), len(OUTWARDS), len(_INWARD_LETTERS)
        n_numbers = len(numbers)
        quiet_heads: list[int] = []  # households that sent no form
        while pid < first_pid + count:
            household = min(sizes[int(rnd() * 7)], first_pid + count - pid)
            surname = SURNAMES[int(rnd() * n_sur)]
            house = 1 + int(rnd() * 250)
            street = STREETS[int(rnd() * n_str)]
            address = addresses[(house, street, TOWNS[int(rnd() * n_town)])]
            inward = f"{int(rnd() * 10)}{_INWARD_LETTERS[int(rnd() * n_in)]}{_INWARD_LETTERS[int(rnd() * n_in)]}"
            pc = f"{OUTWARDS[int(rnd() * n_out)]} {inward}"  # every outward and inward here is a valid BS 7666 shape
            pc_key = pc_keys[pc]
            s_key = surname_keys[surname]
            adult_ordinal = adult_first + int(rnd() * adult_span)
            member_ids = []
            for member in range(household):
                ordinal = adult_ordinal if member == 0 else child_first + int(rnd() * child_span)
                # numbers starts at this call's first patient (a second call carries on from the first)
                nhs = numbers[pid - first_pid] if pid - first_pid < n_numbers else None  # beyond ~900,000: not known
                forename = FORENAMES[int(rnd() * n_fore)]
                patients.append((pid, nhs, "", surname, forename, s_key, iso_days[ordinal],
                                 address, pc, pc_key, "", "", now, "demo"))
                member_ids.append(pid)
                pid += 1
            stats["patients"] += household
            roll = rng.random()
            if roll > 0.14:
                quiet_heads.append(member_ids[0])
                continue
            # This household sent a form: the adult, and often the children as dependants.
            adult = member_ids[0]
            kind = codes.TYPE2 if roll < 0.015 else codes.TYPE1
            latest = date(2018, 10, 1) if kind == codes.TYPE2 else today
            received = _day(rng, date(2014, 1, 6), latest)
            if rng.random() < 0.08 and kind == codes.TYPE1:
                received = _day(rng, today - timedelta(days=50), today)  # recent: letter still due
            via = rng.choice(("desk", "desk", "post", "email", "phone"))
            proxy = None
            if rng.random() < 0.06:
                role = rng.choice(("lpa_health_welfare", "court_deputy", "legal_guardian"))
                proxy = Proxy(role, f"{rng.choice(FORENAMES)} {rng.choice(SURNAMES)}", "OPG VALIDATED-OPG stamp seen", "reception")
                stats["proxies"] += 1
            covered = [(adult, proxy, None)] + [
                (dep, Proxy("parental_responsibility", f"{surname} (adult on form)", "Named on the submitting adult's form", "reception"), adult)
                for dep in member_ids[1:] if rng.random() < 0.8
            ]
            stats["dependants"] += len(covered) - 1
            history: dict[int, list[Event]] = {m: [] for m, _, _ in covered}
            form_of: dict[int, int] = {}  # event id -> form: the first form covers the household
            for person, acting, submitted_by in covered:
                form_of[eid] = form
                history[person].append(Event(kind, codes.REGISTER, received, received, via, "reception",
                                             datetime.combine(received, time(10), timezone.utc), eid, acting, submitted_by, eid))
                eid += 1
            # Some later withdraw, and a few of those object again.
            if rng.random() < 0.15:
                when = _day(rng, received + timedelta(days=1), today) if received < today else today
                form += 1  # each later change is its own form, with its own letter
                form_of[eid] = form
                history[adult].append(Event(kind, codes.WITHDRAW, when, when, "desk", "reception",
                                            datetime.combine(when, time(11), timezone.utc), eid, None, None, eid))
                eid += 1
                if rng.random() < 0.3 and kind == codes.TYPE1 and when < today:
                    again = _day(rng, when + timedelta(days=1), today)
                    form += 1
                    form_of[eid] = form
                    history[adult].append(Event(kind, codes.REGISTER, again, again, "post", "reception",
                                                datetime.combine(again, time(12), timezone.utc), eid, None, None, eid))
                    eid += 1
            for person, evs in history.items():
                for e in evs:
                    p = e.proxy
                    coded = (datetime.combine(e.received + timedelta(days=2), time(9), timezone.utc).isoformat()
                             if e.received < today - timedelta(days=14) else None)
                    events.append((e.event_id, person, e.kind, e.action, e.effective.isoformat(), e.received.isoformat(),
                                   e.via, p.role if p else None, p.name if p else None, p.evidence if p else None,
                                   p.verified_by if p else None, e.submitted_by, form_of[e.event_id], e.recorded_by,
                                   e.recorded_at.isoformat(), coded, "reception" if coded else None))
                for k in EVENT_KINDS:
                    status = current_status(evs, k)
                    if status.event is not None:
                        states.append((person, k, int(status.active), status.since.isoformat(), status.event.event_id))
                        if k == codes.TYPE1 and status.active:
                            stats["type1_active"] += 1
                        if k == codes.TYPE2:
                            stats["type2"] += 1
                        if not status.active:
                            stats["withdrawn"] += 1
                for e in evs:
                    if e.submitted_by is None:  # one letter per form, to the adult who sent it
                        due = one_calendar_month_after(e.received)
                        sent = (datetime.combine(e.received + timedelta(days=7), time(9), timezone.utc).isoformat()
                                if e.received < today - timedelta(days=40) else None)
                        letters.append((person, form_of[e.event_id], "objection" if e.action == codes.REGISTER else "withdrawal",
                                        e.recorded_at.isoformat(), due.isoformat(), sent, "1" if sent else None, 1 if sent else 0))
            form += 1
        # A small demo (10 patients) can draw no form at all: make sure there is at least one
        # objection whose letter is still due and one whose letter went out, as the user guide's
        # first steps expect. Large demos already have both, and are left exactly as drawn.
        due_now = any(row[5] is None for row in letters)
        sent_before = any(row[5] is not None for row in letters)
        for head, needed, received in ((quiet_heads[:1], not due_now, today - timedelta(days=3)),
                                       (quiet_heads[1:2], not sent_before, today - timedelta(days=90))):
            if not (head and needed):
                continue
            person = head[0]
            at = datetime.combine(received, time(10), timezone.utc)
            events.append((eid, person, codes.TYPE1, codes.REGISTER, received.isoformat(), received.isoformat(),
                           "desk", None, None, None, None, None, form, "reception", at.isoformat(), None, None))
            states.append((person, codes.TYPE1, 1, received.isoformat(), eid))
            sent = (datetime.combine(received + timedelta(days=7), time(9), timezone.utc).isoformat()
                    if received < today - timedelta(days=40) else None)
            letters.append((person, form, "objection", at.isoformat(), one_calendar_month_after(received).isoformat(),
                            sent, "1" if sent else None, 1 if sent else 0))
            stats["type1_active"] += 1
            eid += 1
            form += 1
        with bulk.large_cache(conn):
            bulk.insert_patients(conn, patients)
            bulk.insert_events(conn, events)
            bulk.insert_current_state(conn, states)
            bulk.insert_letters(conn, letters)
        ctx.audit("demo.generate", detail=f"patients={stats['patients']} events={len(events)}")
    stats["revision"] = ctx.revision
    return stats


def create_demo(folder: Path, count: int, *, seed: int = 2014) -> tuple[Session, str, dict]:
    """A new register with the demo users and ``count`` synthetic patients."""
    from . import users as users_service

    first, (password, _role) = next(iter(DEMO_USERS.items()))
    session, recovery = create_register(folder, ods=DEMO_ODS, practice=practice_details(**DEMO_PRACTICE),
                                        user=first, password=password)
    for name, (pw, role) in list(DEMO_USERS.items())[1:]:
        users_service.add(session, name, role, pw)
    stats = generate(session, count, seed=seed)
    return session, recovery, stats
