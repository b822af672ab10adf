"""A demo register of synthetic patients (valid NHS numbers beginning 999 only) with a
realistic mix: Type 1 objections since 2014, withdrawals and re-objections, legacy
Type 2 before the 2018 cut-off, proxies, families submitting for dependants, and
letters both sent and still due. Deterministic for a given seed.
"""

from __future__ import annotations

import json
import random
import sys
from array import array
from bisect import bisect_left
from datetime import date, timedelta
from itertools import accumulate, chain, repeat, starmap
from operator import floordiv, getitem, mod
from pathlib import Path

from ..domain import codes, nhs_number
from ..domain.events import Proxy
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
    """random.Random with cheaper choice/randint: a form's few draws each."""

    def choice(self, seq):
        return seq[int(self.random() * len(seq))]

    def randint(self, a, b):
        return a + int(self.random() * (b - a + 1))


def _day(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randint(0, max(0, (end - start).days)))


def _by_byte(values) -> list:
    """values[b * len(values) // 256] for each byte value b: a near-uniform choice from one
    random byte, so a block's choices are C-level maps over rng.randbytes (issue 13: creation
    within 2x its fair floor; a Python loop per household and per person was most of the
    demo's own work)."""
    return [values[b * len(values) // 256] for b in range(256)]


_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
_INWARDS = [f"{d}{a}{b}" for d in range(10) for a in _INWARD_LETTERS for b in _INWARD_LETTERS]  # 4,000
_SIZE = _by_byte((1, 1, 1, 2, 2, 3, 4))  # people per household
_SURNAME, _FORENAME = _by_byte(SURNAMES), _by_byte(FORENAMES)
_HOUSE = _by_byte(range(1, 251))
_OUTWARD = _by_byte(OUTWARDS)
_FORM_BELOW, _TYPE2_BELOW = 36, 4  # a household sent a form if its byte < 36 (14 %); Type 2 if < 4 (1.6 %)
_ROLES = [(), (0,), (0, 1), (0, 1, 1), (0, 1, 1, 1)]  # per household size: the adult (0), then children (1)
_SURNAME_KEY = {surname: patients_store.surname_key(surname) for surname in SURNAMES}

# json.dumps of each street and town once: an address's JSON is then one format of
# (house, street, town), json.dumps([f"{house} {street}", town], ensure_ascii=False).
_STREET_JSON = _by_byte([json.dumps(street, ensure_ascii=False)[1:-1] for street in STREETS])
_TOWN_JSON = _by_byte([json.dumps(town, ensure_ascii=False) for town in TOWNS])
_ADDRESS = '["{} {}", {}]'.format


def _words(rng: random.Random, count: int) -> array:
    """``count`` random numbers 0-65535, two bytes each, the same on any machine."""
    words = array("H", rng.randbytes(2 * count))
    if sys.byteorder == "big":
        words.byteswap()
    return words


BLOCK = 1024  # patients drawn from one random stream; households never cross a block's end


class _Block:
    """Patient ids block*BLOCK+1 .. (block+1)*BLOCK, drawn from this block's own random
    stream: the same whichever call (or chunk) generates them. Per patient (index pid -
    first): surname, surname key, forename, date of birth (ISO text), address, postcode and its
    key. ``forms``: (first id, people, surname, form) of each household that sent a form, form
    as ``_form`` gives it. ``addresses``: one string per distinct address, shared by every
    household there (a million patients hold a few thousand, not half a million)."""

    def __init__(self, seed: int, block: int, today: date, addresses: dict, years: tuple):
        rng = _Rng(f"demo:{seed}:{block}")
        self.first = block * BLOCK + 1
        sizes = list(map(_SIZE.__getitem__, rng.randbytes(BLOCK)))
        ends = list(accumulate(sizes))
        n = bisect_left(ends, BLOCK) + 1  # households in this block; the last is cut at its end
        sizes[n - 1] -= ends[n - 1] - BLOCK
        del sizes[n:], ends[n:]
        draw = rng.randbytes(6 * n)  # per household: six bytes, one per choice
        surnames = list(map(_SURNAME.__getitem__, draw[0::6]))
        places = list(zip(map(_HOUSE.__getitem__, draw[1::6]), map(_STREET_JSON.__getitem__, draw[2::6]),
                          map(_TOWN_JSON.__getitem__, draw[3::6])))
        new = set(places).difference(addresses)
        addresses.update(zip(new, starmap(_ADDRESS, new)))
        outwards = list(map(_OUTWARD.__getitem__, draw[4::6]))
        inwards = list(map(_INWARDS.__getitem__, map(mod, _words(rng, n), repeat(len(_INWARDS)))))
        # Every outward and inward here is a valid BS 7666 shape; the search key is the postcode without its space.
        postcodes, keys = list(map("{} {}".format, outwards, inwards)), list(map(str.__add__, outwards, inwards))

        def per_person(values):
            return list(chain.from_iterable(map(repeat, values, sizes)))

        self.surnames, self.addresses = per_person(surnames), per_person(map(addresses.__getitem__, places))
        self.surname_keys = list(map(_SURNAME_KEY.__getitem__, self.surnames))
        self.postcodes, self.postcode_keys = per_person(postcodes), per_person(keys)
        self.forenames = list(map(_FORENAME.__getitem__, rng.randbytes(BLOCK)))
        # Date of birth: a year from the person's span (adult or child: _years) and a day of a
        # 365-day year (never 29 February), both from one 16-bit number, joined as ISO text.
        words = _words(rng, BLOCK)
        roles = chain.from_iterable(map(_ROLES.__getitem__, sizes))
        self.dobs = list(map(str.__add__, map(getitem, map(years.__getitem__, roles), map(floordiv, words, repeat(365))),
                             map(_MONTH_DAY.__getitem__, map(mod, words, repeat(365)))))
        # The households that sent a form (one in seven). The first two households of a demo
        # always sent one: one whose letter is still due, one whose letter went out, so even
        # `demo --patients 10` shows both (the user guide's first steps).
        sent = [i for i, roll in enumerate(draw[5::6]) if roll < _FORM_BELOW]
        forced = {0: today - timedelta(days=3), 1: today - timedelta(days=90)} if block == 0 else {}
        self.forms = [(self.first + ends[i] - sizes[i], sizes[i], surnames[i],
                       _form(rng, draw[6 * i + 5], forced.get(i), sizes[i], today))
                      for i in sorted(set(sent).union(forced))]


_FIRST_RECEIVED, _TYPE2_LAST = date(2014, 1, 6), date(2018, 10, 1)
_DAY = timedelta(days=1)
_VIAS = ("desk", "desk", "post", "email", "phone")
_PROXY_ROLES = ("lpa_health_welfare", "court_deputy", "legal_guardian")


def _form(rng: _Rng, roll: int, forced: date | None, size: int, today: date) -> tuple:
    """What a household's adult sent: (kind, received, via, proxy, [covered per child],
    withdrawn on, objected again on)."""
    rnd = rng.random
    kind = codes.TYPE2 if roll < _TYPE2_BELOW and forced is None else codes.TYPE1
    latest = _TYPE2_LAST if kind == codes.TYPE2 else today
    received = _day(rng, _FIRST_RECEIVED, latest)
    if rnd() < 0.08 and kind == codes.TYPE1:
        received = _day(rng, today - 50 * _DAY, today)  # recent: letter still due
    received = forced or received
    via = _VIAS[int(rnd() * 5)]
    proxy = None
    if rnd() < 0.06:
        proxy = Proxy(_PROXY_ROLES[int(rnd() * 3)], f"{rng.choice(FORENAMES)} {rng.choice(SURNAMES)}",
                      "OPG VALIDATED-OPG stamp seen", "reception")
    covered = [rnd() < 0.8 for _ in range(size - 1)]
    withdrawn = again = None
    if rnd() < 0.15 and forced is None:  # some later withdraw, and a few of those object again
        withdrawn = _day(rng, received + _DAY, today) if received < today else today
        if rnd() < 0.3 and kind == codes.TYPE1 and withdrawn < today:
            again = _day(rng, withdrawn + _DAY, today)
    return kind, received, via, proxy, covered, withdrawn, again


_MONTH_DAY = [f"{day:%m-%d}" for day in (date(2001, 1, 1) + timedelta(days=i) for i in range(365))]
_YEAR_DRAWS = 65535 // 365 + 1  # the values of a 16-bit number // 365


def _years(today: date) -> tuple[list[str], list[str]]:
    """The birth year of an adult (1930-2000) and of a child (2008 up to the year before the
    one 400 days ago), each as a table indexed by a 16-bit number // 365: near-uniform."""
    adult = range(1930, 2001)
    child = range(2008, max(2009, (today - timedelta(days=400)).year))
    return tuple([f"{span[q * len(span) // _YEAR_DRAWS]}-" for q in range(_YEAR_DRAWS)] for span in (adult, child))


_TWO_DAYS, _A_WEEK = timedelta(days=2), timedelta(days=7)


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
        addresses: dict[tuple, str] = {}  # one string per distinct address (see _Block)
        years = _years(today)
        coded_before, sent_before = today - timedelta(days=14), today - timedelta(days=40)

        def record(person: int, kind: str, action: str, on: date, via: str, hour: int, proxy, submitted_by,
                   form) -> tuple:
            """An event row (and, for a form the person sent, its letter); the state it leaves."""
            nonlocal eid, letter_id
            day = on.isoformat()
            at = f"{day}T{hour:02d}:00:00+00:00"  # datetime(on, hour, UTC).isoformat(), as text
            coded = f"{on + _TWO_DAYS}T09:00:00+00:00" if on < coded_before else None
            events.append((eid, person, kind, action, day, day, via,
                           proxy.role if proxy else None, proxy.name if proxy else None,
                           proxy.evidence if proxy else None, proxy.verified_by if proxy else None, submitted_by,
                           form, "reception", at, coded, "reception" if coded else None))
            if submitted_by is None:  # one letter per form, to the adult who sent it
                sent = f"{on + _A_WEEK}T09:00:00+00:00" if on < sent_before else None
                letters.append((letter_id, person, form, "objection" if action == codes.REGISTER else "withdrawal",
                                at, one_calendar_month_after(on).isoformat(), sent, "1" if sent else None,
                                1 if sent else 0))
                letter_id += 1
            eid += 1
            return person, kind, int(action == codes.REGISTER), day, eid - 1

        for block in range((first_pid - 1) // BLOCK, (end - 2) // BLOCK + 1):
            made = _Block(seed, block, today, addresses, years)
            lo, hi = max(first_pid, made.first), min(end, made.first + BLOCK)  # the ids this call makes
            a, z = lo - made.first, hi - made.first
            patients += zip(range(lo, hi), numbers[lo - 1:hi - 1], repeat(""), made.surnames[a:z],
                            made.forenames[a:z], made.surname_keys[a:z], made.dobs[a:z],
                            made.addresses[a:z], made.postcodes[a:z], made.postcode_keys[a:z], repeat(""), repeat(""),
                            repeat(now), repeat("demo"))
            for head, size, surname, (kind, received, via, proxy, covered, withdrawn, again) in made.forms:
                if head + size <= lo or head >= hi:
                    continue
                head_form = None
                if lo <= head:  # the adult: their form, and each later change as its own form and letter
                    head_form = eid
                    state = record(head, kind, codes.REGISTER, received, via, 10, proxy, None, eid)
                    stats["proxies"] += proxy is not None
                    if withdrawn is not None:
                        state = record(head, kind, codes.WITHDRAW, withdrawn, "desk", 11, None, None, eid)
                    if again is not None:
                        state = record(head, kind, codes.REGISTER, again, "post", 12, None, None, eid)
                    states.append(state)  # the history's dates never go back: its last event decides
                for pid in range(max(head + 1, lo), min(head + size, hi)):
                    if not covered[pid - head - 1]:
                        continue
                    if head_form is None:  # the adult was made by an earlier call: their form's id
                        head_form = events_store.own_form_id(conn, head)
                        if head_form is None:
                            break
                    acting = Proxy("parental_responsibility", f"{surname} (adult on form)",
                                   "Named on the submitting adult's form", "reception")
                    states.append(record(pid, kind, codes.REGISTER, received, via, 10, acting, head, head_form))
                    stats["dependants"] += 1
        for _pid, kind, active, _since, _event in states:
            stats["type1_active"] += kind == codes.TYPE1 and active
            stats["type2"] += kind == codes.TYPE2
            stats["withdrawn"] += not active
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
