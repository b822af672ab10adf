import json

import pytest

from gp_optout_desktop.domain import codes, roles
from gp_optout_desktop.domain.codes import parse_code_table
from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.paths import resource


def table():
    return codes.parse_code_table(resource("codes.json").read_text(encoding="utf-8"))


def test_code_table_matches_the_domain_brief():
    t = table()
    assert (t.lookup("type1", "register").read_v2, t.lookup("type1", "register").ctv3,
            t.lookup("type1", "register").snomed) == ("9Nu0.", "XaZ89", "827241000000103")
    assert t.lookup("type1", "withdraw").read_v2 == "9Nu1."
    assert t.lookup("type2", "register").snomed == "881561000000100"
    assert t.lookup("type2", "withdraw").ctv3 == "XaaVM"
    assert t.type2_cutoff.isoformat() == "2018-10-11"
    assert "snomed" in t.lookup("type1", "withdraw").verify  # unconfirmed codes stay flagged


def test_a_code_table_missing_a_code_is_refused():
    data = json.loads(resource("codes.json").read_text(encoding="utf-8"))
    data["codes"] = data["codes"][:3]
    with pytest.raises(ValidationError, match="exactly one code for type2 withdraw"):
        codes.parse_code_table(json.dumps(data))


EXPECTED = {
    "practice_optout": {roles.GP},
    "record_objection": set(roles.ROLES),
    "record_withdrawal": set(roles.ROLES),
    "search": set(roles.ROLES),
    "export": {roles.MANAGER},
    "manage_users": {roles.MANAGER},
    "print_letters": {roles.MANAGER},
    "view_audit": {roles.MANAGER},
    "backup": {roles.MANAGER},
    "restore": {roles.MANAGER},
}


@pytest.mark.parametrize("action", sorted(EXPECTED))
@pytest.mark.parametrize("role", roles.ROLES)
def test_permission_matrix(role, action):
    assert roles.allowed(role, action) == (role in EXPECTED[action])
    if role not in EXPECTED[action]:
        with pytest.raises(roles.PermissionDenied):
            roles.require(role, action)


# ---- issue 10 section 6: verify kept, other consent codes refused, corrections validated ---------

def _shipped() -> dict:
    return json.loads(resource("codes.json").read_text(encoding="utf-8"))


def test_unconfirmed_withdrawal_codes_stay_marked_verify():
    t = parse_code_table(resource("codes.json").read_text(encoding="utf-8"))
    t1w, t2w = t.lookup("type1", "withdraw"), t.lookup("type2", "withdraw")
    assert (t1w.ctv3, t1w.snomed, t2w.ctv3, t2w.snomed) == ("XaZ8a", "827261000000102", "XaaVM", "881581000000109")
    assert any("ctv3 letter case" in v and "XaZ8A" in v for v in t1w.verify) and "snomed" in t1w.verify
    assert "ctv3" in t2w.verify and "snomed" in t2w.verify
    assert t.lookup("type1", "register").verify == () and t.lookup("type2", "register").verify == ()


def test_case_folded_match_is_flagged_and_exact_is_not():
    t = parse_code_table(resource("codes.json").read_text(encoding="utf-8"))
    assert t.match("XaZ8a").case_folded is False and t.match("XaZ8A").case_folded is True
    assert t.match("XaZ8A").code == t.lookup("type1", "withdraw")
    assert t.match("9Nu0").case_folded is False and t.match("9NU0.").case_folded is True


@pytest.mark.parametrize("code", ["9Nd1.", "XaKII", "9M1..", "XaJrC", "9NdH.", "XaNwT"])
def test_other_consent_codes_are_refused_even_if_a_table_drops_them(code):
    data = _shipped()
    data["do_not_confuse"] = []
    t = parse_code_table(json.dumps(data))
    with pytest.raises(ValidationError, match="is not a GP data objection code"):
        t.classify(code)


@pytest.mark.parametrize("spoil, words", [
    (lambda d: d["codes"][1].update(snomed="827261000000103"), "not a SNOMED CT identifier"),
    (lambda d: d["codes"][1].update(snomed="0827261000000102"), "not a SNOMED CT identifier"),
    (lambda d: d["codes"][1].update(ctv3="XaZ8"), "CTV3 'XaZ8' is not five characters"),
    (lambda d: d["codes"][1].update(read_v2="9Nu1"), "Read v2 '9Nu1' is not five characters"),
    (lambda d: d["codes"][1].update(ctv3="XAZ89"), "used twice"),
    (lambda d: d["codes"][1].update(ctv3="XaKII"), "must be refused"),
    (lambda d: d["codes"][1].update(status="maybe"), "status"),
    (lambda d: d["codes"][1].update(snomed=827261000000102), "is not text"),
    (lambda d: d["codes"].append(dict(d["codes"][0])), "exactly one code for type1 register"),
    (lambda d: d.update(type2_cutoff="2019-01-01"), "cut-off is national"),
    (lambda d: d["codes"][1].update(verify="snomed"), "verify is not a list"),
])
def test_a_corrected_table_is_validated(spoil, words):
    data = _shipped()
    spoil(data)
    with pytest.raises(ValidationError, match=words):
        parse_code_table(json.dumps(data))


def test_duplicate_keys_in_a_table_are_refused():
    text = resource("codes.json").read_text(encoding="utf-8").replace(
        '"type2_cutoff": "2018-10-11",', '"type2_cutoff": "2018-10-11", "type2_cutoff": "2018-10-11",')
    with pytest.raises(ValidationError, match="appears twice"):
        parse_code_table(text)
