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

from ..domain import codes, nhs_number
from ..domain.events import Event, Proxy, current_status
from ..domain import roles
from ..store import bulk, events as events_store, patients as patients_store
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


# json.dumps of each street and town once: an address's JSON is then two string joins
# (json.dumps per address was most of a 10,000-patient register's memo misses).
_STREET_JSON = {street: json.dumps(street, ensure_ascii=False)[1:-1] for street in STREETS}
_TOWN_JSON = {town: json.dumps(town, ensure_ascii=False) for town in TOWNS}


def _address_json(key: tuple) -> str:
    """json.dumps([f"{house} {street}", town], ensure_ascii=False), house a number."""
    house, street, town = key
    return f'["{house} {_STREET_JSON[street]}", {_TOWN_JSON[town]}]'


BLOCK = 1024  # patients drawn from one random stream; households never cross a block's end


def _households(seed: int, block: int, today: date, memo: dict) -> list[tuple]:
    """The households of patient ids block*BLOCK+1 .. (block+1)*BLOCK, drawn from this block's
    own random stream: the same whichever call (or chunk) generates them. Each is (first id,
    surname, surname key, address, postcode, postcode key, [(dob ordinal, forename)], form),
    form None (sent nothing) or (kind, received, via, proxy, [covered per child], withdrawn
    on, objected again on)."""
    rng = _Rng(f"demo:{seed}:{block}")
    rnd = rng.random  # the draws of rng.choice/randint/_day, inlined: same data, half the time
    addresses, surname_keys = memo["addresses"], memo["surname_keys"]
    adult_first, adult_span, child_first, child_span = memo["spans"]
    n_sur, n_fore, n_str, n_town, n_out, n_in = len(SURNAMES), len(FORENAMES), len(STREETS), len(TOWNS), \
        len(OUTWARDS), len(_INWARD_LETTERS)
    out = []
    pid, last = block * BLOCK + 1, (block + 1) * BLOCK
    while pid <= last:
        household = min((1, 1, 1, 2, 2, 3, 4)[int(rnd() * 7)], last - pid + 1)
        surname = SURNAMES[int(rnd() * n_sur)]
        house = 1 + int(rnd() * 250)
        street = STREETS[int(rnd() * n_str)]
        address = addresses[(house, street, TOWNS[int(rnd() * n_town)])]
        inward = f"{int(rnd() * 10)}{_INWARD_LETTERS[int(rnd() * n_in)]}{_INWARD_LETTERS[int(rnd() * n_in)]}"
        outward = OUTWARDS[int(rnd() * n_out)]
        pc = f"{outward} {inward}"  # every outward and inward here is a valid BS 7666 shape
        adult_ordinal = adult_first + int(rnd() * adult_span)
        members = [(adult_ordinal, FORENAMES[int(rnd() * n_fore)])]  # then each child: date of birth, forename
        for _child in range(household - 1):
            members.append((child_first + int(rnd() * child_span), FORENAMES[int(rnd() * n_fore)]))
        form = None
        roll = rnd()
        # The first two households of a demo always sent a form: one whose letter is still due,
        # one whose letter went out, so even `demo --patients 10` shows both (the user guide's first steps).
        forced = {0: today - timedelta(days=3), 1: today - timedelta(days=90)}.get(len(out)) if block == 0 else None
        if roll <= 0.14 or forced is not None:
            kind = codes.TYPE2 if roll < 0.015 and forced is None else codes.TYPE1
            latest = date(2018, 10, 1) if kind == codes.TYPE2 else today
            received = _day(rng, date(2014, 1, 6), latest)
            if rng.random() < 0.08 and kind == codes.TYPE1:
                received = _day(rng, today - timedelta(days=50), today)  # recent: letter still due
            received = forced or received
            via = rng.choice(("desk", "desk", "post", "email", "phone"))
            proxy = None
            if rng.random() < 0.06:
                role = rng.choice(("lpa_health_welfare", "court_deputy", "legal_guardian"))
                proxy = Proxy(role, f"{rng.choice(FORENAMES)} {rng.choice(SURNAMES)}", "OPG VALIDATED-OPG stamp seen",
                              "reception")
            covered = [rng.random() < 0.8 for _ in members[1:]]
            withdrawn = again = None
            if rng.random() < 0.15 and forced is None:  # some later withdraw, and a few of those object again
                withdrawn = _day(rng, received + timedelta(days=1), today) if received < today else today
                if rng.random() < 0.3 and kind == codes.TYPE1 and withdrawn < today:
                    again = _day(rng, withdrawn + timedelta(days=1), today)
            form = (kind, received, via, proxy, covered, withdrawn, again)
        # The search key is the postcode without its space: both halves are upper case
        # (tests/services/test_demo.py checks every stored key against postcode.search_key).
        out.append((pid, surname, surname_keys[surname], address, pc, outward + inward, members, form))
        pid += household
    return out


def _add_days(iso_days: dict[int, str], households: list[tuple]) -> None:
    """The ISO text of each date of birth in ``households`` not yet in ``iso_days``, made with
    C-level maps (str of a date is its isoformat): most of 10,000 patients' dates of birth
    differ, and a memo's Python call per miss was a tenth of the demo's own work."""
    new = {ordinal for household in households for ordinal, _forename in household[6]}.difference(iso_days)
    iso_days.update(zip(new, map(str, map(date.fromordinal, new))))


def generate(session: Session, count: int, *, seed: int = 2014, today: date | None = None) -> dict:
    """Add ``count`` synthetic patients with histories, in one audited transaction.

    Each patient is a function of (seed, patient id, today) only: N patients made in one call
    or in several (as the UI benchmark builds its 1,000,000) give the same register, ids,
    events, forms and letters alike (tests/services/test_demo.py)."""
    today = today or session.today()
    with session.write("add_patient") as ctx:
        conn = ctx.conn
        first_pid, eid, letter_id = bulk.next_ids(conn)
        end = first_pid + count
        numbers = nhs_number.synthetic_range(min(end - 1, 900_000))  # beyond ~900,000: not known
        numbers += [None] * (end - 1 - len(numbers))  # numbers[pid - 1] for every pid made here
        now = session.now().isoformat()
        patients, events, states, letters = [], [], [], []
        stats = {"patients": 0, "type1_active": 0, "withdrawn": 0, "type2": 0, "proxies": 0, "dependants": 0}
        iso_days: dict[int, str] = {}  # date of birth (ordinal) -> ISO text, see _add_days
        memo = {"addresses": _Memo(_address_json), "surname_keys": _Memo(patients_store.surname_key),
                "spans": (date(1930, 1, 1).toordinal(), date(2000, 12, 31).toordinal() - date(1930, 1, 1).toordinal() + 1,
                          date(2008, 1, 1).toordinal(),
                          max(0, (today - timedelta(days=400)).toordinal() - date(2008, 1, 1).toordinal()) + 1)}
        coded_before, sent_before = today - timedelta(days=14), today - timedelta(days=40)

        def record(person: int, kind: str, action: str, on: date, via: str, hour: int, proxy, submitted_by, form):
            nonlocal eid, letter_id
            at = datetime.combine(on, time(hour), timezone.utc)
            coded = datetime.combine(on + timedelta(days=2), time(9), timezone.utc).isoformat() \
                if on < coded_before else None
            day = on.isoformat()
            events.append((eid, person, kind, action, day, day, via,
                           proxy.role if proxy else None, proxy.name if proxy else None,
                           proxy.evidence if proxy else None, proxy.verified_by if proxy else None, submitted_by,
                           form, "reception", at.isoformat(), coded, "reception" if coded else None))
            if submitted_by is None:  # one letter per form, to the adult who sent it
                sent = datetime.combine(on + timedelta(days=7), time(9), timezone.utc).isoformat() \
                    if on < sent_before else None
                letters.append((letter_id, person, form, "objection" if action == codes.REGISTER else "withdrawal",
                                at.isoformat(), one_calendar_month_after(on).isoformat(), sent,
                                "1" if sent else None, 1 if sent else 0))
                letter_id += 1
            event = Event(kind, action, on, on, via, "reception", at, eid, proxy, submitted_by, eid)
            eid += 1
            return event

        for block in range((first_pid - 1) // BLOCK, (end - 2) // BLOCK + 1):
            households = _households(seed, block, today, memo)
            _add_days(iso_days, households)
            for head, surname, s_key, address, pc, pc_key, members, form in households:
                if head + len(members) <= first_pid or head >= end:
                    continue
                if form is None and first_pid <= head and head + len(members) <= end:  # most households
                    patients += [(pid, numbers[pid - 1], "", surname, forename, s_key, iso_days[ordinal], address, pc,
                                  pc_key, "", "", now, "demo")
                                 for pid, (ordinal, forename) in enumerate(members, head)]
                    continue
                head_form = None
                for i, (ordinal, forename) in enumerate(members):
                    pid = head + i
                    if not first_pid <= pid < end:
                        continue
                    patients.append((pid, numbers[pid - 1], "", surname, forename, s_key, iso_days[ordinal], address,
                                     pc, pc_key, "", "", now, "demo"))
                    if form is None:
                        continue
                    kind, received, via, proxy, covered, withdrawn, again = form
                    if i == 0:
                        head_form = eid
                        history = [record(pid, kind, codes.REGISTER, received, via, 10, proxy, None, eid)]
                        stats["proxies"] += proxy is not None
                        if withdrawn is not None:  # each later change is its own form, with its own letter
                            history.append(record(pid, kind, codes.WITHDRAW, withdrawn, "desk", 11, None, None, eid))
                        if again is not None:
                            history.append(record(pid, kind, codes.REGISTER, again, "post", 12, None, None, eid))
                    elif covered[i - 1]:
                        if head_form is None:  # the adult was made by an earlier call: their form's id
                            head_form = events_store.own_form_id(conn, head)
                            if head_form is None:
                                continue
                        acting = Proxy("parental_responsibility", f"{surname} (adult on form)",
                                       "Named on the submitting adult's form", "reception")
                        history = [record(pid, kind, codes.REGISTER, received, via, 10, acting, head, head_form)]
                        stats["dependants"] += 1
                    else:
                        continue
                    status = current_status(history, kind)
                    states.append((pid, kind, int(status.active), status.since.isoformat(), status.event.event_id))
                    stats["type1_active"] += kind == codes.TYPE1 and status.active
                    stats["type2"] += kind == codes.TYPE2
                    stats["withdrawn"] += not status.active
        stats["patients"] = len(patients)
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
