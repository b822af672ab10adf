"""Property: over generated histories recorded through the real service layer into a real
encrypted register, the exported file re-read by the reader equals exactly
domain.exclusion_rules.expected_rows.

Histories mix objections, withdrawals and re-objections, legacy Type 2 (before and after
the 2018 cut-off: the late ones are refused), proxies, dependants on a parent's form,
include-me requests and the practice-wide opt-out turned on and off. Operations the rules
refuse raise ValidationError and must leave the register unchanged: the model skips them.
The model is built from what the test asked for, with the register's event ids as entry
order, so a wrong derived state in the store shows up as a difference.
"""

from __future__ import annotations

import tempfile
from datetime import date, datetime, time, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from gp_optout_desktop.domain import codes, practice_policy, roles
from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.domain.events import INCLUDE, Event, Proxy
from gp_optout_desktop.domain.exclusion_rules import EXCLUDE_ALL_EXCEPT_LISTED, EXCLUDE_LISTED, expected_rows
from gp_optout_desktop.domain.nhs_number import synthetic
from gp_optout_desktop.exclusion import signing
from gp_optout_desktop.exclusion.reader import read_export
from excl_helpers import fresh_state
from gp_optout_desktop.services import exclusion, objections, patients, setup, users
from gp_optout_desktop.services.objections import DEPENDANT_EVIDENCE
from gp_optout_desktop.services.session import Session

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=timezone.utc)
TODAY = NOW.date()
DAYS = [date(2014, 3, 1), date(2016, 5, 5), date(2018, 10, 11), date(2018, 10, 12), date(2021, 7, 1), TODAY]
PATIENTS = 6  # patient 5 has no NHS number

patient_ix = st.integers(0, PATIENTS - 1)
day = st.sampled_from(DAYS)
event_op = st.tuples(st.just("event"), patient_ix, st.sampled_from([codes.TYPE1, codes.TYPE2, INCLUDE, INCLUDE]),
                     st.sampled_from([codes.REGISTER, codes.REGISTER, codes.WITHDRAW]), day, st.booleans())
form_op = st.tuples(st.just("form"), patient_ix, st.lists(patient_ix, min_size=1, max_size=3, unique=True),
                    st.sampled_from([codes.TYPE1, codes.TYPE2]), st.sampled_from([codes.REGISTER, codes.WITHDRAW]), day)
policy_op = st.tuples(st.just("policy"), st.sampled_from([practice_policy.ON, practice_policy.OFF]), day)
op = st.one_of(event_op, event_op, event_op, form_op, policy_op)


def _register(folder: Path):
    pm, _ = setup.create_register(folder, ods="F84003", practice=setup.practice_details(name="Property Surgery"),
                                  user="pm", password="pm-password-1")
    pm.clock = lambda: NOW
    users.add(pm, "drgp", roles.GP, "drgp-password-1")
    gp = Session(pm.register, "drgp", roles.GP, clock=pm.clock)
    ids, numbers = [], []
    for i in range(PATIENTS):
        nhs = synthetic(700_000 + i * 13) if i < PATIENTS - 1 else None
        change = patients.add(pm, surname="Prop", forenames=f"P{i}", dob="1980-01-01", postcode_raw="LS1 4AP", nhs=nhs)
        ids.append(change.data["patient_id"])
        numbers.append(nhs)
    return pm, gp, ids, numbers


def _event(kind, action, effective, seq, proxy=None, submitted_by=None):
    return Event(kind=kind, action=action, effective=effective, received=effective, via="post", recorded_by="pm",
                 recorded_at=datetime.combine(effective, time(9), timezone.utc), seq=seq, proxy=proxy,
                 submitted_by=submitted_by)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op, max_size=20))
@example(ops=[  # practice-wide opt-out with include-me requests, one beaten by a later objection
    ("policy", "on", DAYS[0]), ("event", 0, INCLUDE, "register", DAYS[1], False),
    ("event", 1, INCLUDE, "register", DAYS[2], True), ("event", 1, "type1", "register", DAYS[3], False),
    ("event", 5, INCLUDE, "register", DAYS[2], False), ("policy", "off", DAYS[4]), ("policy", "on", DAYS[5]),
])
@example(ops=[  # withdrawal then re-objection on the same day (entry order decides), dependants, late Type 2
    ("event", 0, "type1", "register", DAYS[0], False), ("event", 0, "type1", "withdraw", DAYS[1], False),
    ("event", 0, "type1", "register", DAYS[1], False), ("form", 2, [3, 4], "type1", "register", DAYS[2]),
    ("event", 3, "type2", "register", DAYS[3], False), ("event", 4, "type2", "register", DAYS[1], True),
])
def test_export_equals_domain_rules(ops):
    with tempfile.TemporaryDirectory() as tmp:
        pm, gp, ids, numbers = _register(Path(tmp) / "register")
        try:
            histories = {i: [] for i in range(PATIENTS)}
            policy_changes = []
            for o in ops:
                try:
                    if o[0] == "event":
                        _, who, kind, action, effective, by_proxy = o
                        proxy = Proxy("lpa_health_welfare", "Pat Proxy", "OPG VALIDATED-OPG stamp", "pm") if by_proxy else None
                        change = objections.record(pm, ids[who], kind, action, effective=effective, received=effective,
                                                   via="post", proxy=proxy)
                        histories[who].append(_event(kind, action, effective, change.event_ids[0], proxy))
                    elif o[0] == "form":
                        _, adult, deps, kind, action, effective = o
                        deps = [d for d in deps if d != adult]
                        if not deps:
                            continue
                        change = objections.record(pm, ids[adult], kind, action, effective=effective,
                                                   received=effective, via="post", dependants=[ids[d] for d in deps])
                        targets = [adult] + deps
                        assert len(change.event_ids) == len(targets)
                        for who, event_id in zip(targets, change.event_ids):
                            proxy = None if who == adult else Proxy("parental_responsibility", "P Prop",
                                                                     DEPENDANT_EVIDENCE, "pm")
                            histories[who].append(_event(kind, action, effective, event_id, proxy,
                                                         None if who == adult else ids[adult]))
                    else:
                        _, state, effective = o
                        exclusion.set_practice_optout(gp, state, "property test", effective)
                        policy_changes.append(practice_policy.PolicyChange(state, effective, "property test", "drgp",
                                                                           NOW, seq=len(policy_changes) + 1))
                    event(f"accepted {o[0]}")
                except ValidationError:
                    event(f"refused {o[0]}")  # by the rules: nothing recorded, the model unchanged

            out = Path(tmp) / "out"
            change = exclusion.export(pm, out)
            key = signing.load_public_key_pem(exclusion.public_key_pem(pm)[0])
            exset = read_export(out, key, practice_ods="F84003", state_path=fresh_state(), now=NOW)

            mode = EXCLUDE_ALL_EXCEPT_LISTED if practice_policy.is_on(policy_changes, as_of=TODAY) else EXCLUDE_LISTED
            table = pm.codes
            with_nhs = {numbers[i]: evs for i, evs in histories.items() if numbers[i] is not None}
            assert exset.manifest.mode == mode
            event(f"mode {mode}, {'some' if exset.rows else 'no'} rows")
            assert list(exset.rows) == expected_rows(with_nhs, mode, table, as_of=TODAY)
            no_nhs = expected_rows({"": histories[PATIENTS - 1]}, EXCLUDE_LISTED, table, as_of=TODAY)
            assert exset.manifest.objectors_without_nhs_number == (len(no_nhs) if mode == EXCLUDE_LISTED else 0)
            assert exset.manifest.register_revision == change.revision == pm.revision()
            assert not exclusion.export_status(pm).out_of_date
        finally:
            if pm.register.is_open:
                pm.lock()
