import json

import pytest

from gp_optout_desktop.domain import codes, roles
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
    with pytest.raises(ValidationError, match="lacks"):
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
