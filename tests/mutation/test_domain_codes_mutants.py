"""The objection code table as a practice manager corrects it and as an import reads codes
through it: which code a clinical system's text is, the sentence shown for a code that is
not an objection, and the exact reason a corrected table is refused (on the "codes" field,
nothing half-read)."""
from __future__ import annotations

import json

import pytest

from gp_optout_desktop.domain import codes
from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.services.session import shipped_code_table_text

NOT_IN_TABLE = "is not a Type 1 or Type 2 objection or withdrawal code (Read v2, CTV3 or SNOMED CT) in the code table."


def shipped() -> dict:
    return json.loads(shipped_code_table_text())


def table(data: dict | None = None) -> codes.CodeTable:
    return codes.parse_code_table(json.dumps(shipped() if data is None else data))


def refused(data, message: str, field: str = "codes") -> None:
    text = data if isinstance(data, str) else json.dumps(data)
    with pytest.raises(ValidationError) as err:
        codes.parse_code_table(text)
    assert str(err.value) == message
    assert err.value.field == field


def code_refused(text, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        table().match(text)
    assert str(err.value) == message
    assert err.value.field == "code"


# ---- reading a code ------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "   ", None])
def test_a_missing_code_is_named_as_missing(text):
    code_refused(text, "The clinical code is missing.")


@pytest.mark.parametrize("text, objection, action", [
    ("9Nu0.", "type1", "register"), ("9Nu0", "type1", "register"), ("XaZ89", "type1", "register"),
    ("827261000000102", "type1", "withdraw"), ("XaaVL", "type2", "register"), ("9Nu5", "type2", "withdraw"),
])
def test_each_form_of_a_code_reads_as_its_objection_exactly(text, objection, action):
    match = table().match(text)
    assert (match.code.objection, match.code.action, match.case_folded) == (objection, action, False)
    assert table().classify(text) == match.code


def test_a_read_code_in_the_wrong_case_without_its_dot_is_read_but_flagged():
    match = table().match("9nu4")
    assert (match.code.objection, match.code.action, match.case_folded) == ("type2", "register", True)


@pytest.mark.parametrize("text, meaning", [
    ("9Nd1.", "another consent code (not a GP data objection)"),
    ("9Nd1", "another consent code (not a GP data objection)"),      # final dot dropped by the export
    ("9nd1", "another consent code (not a GP data objection)"),      # and lower case
    ("9M1", "another consent code (not a GP data objection)"),       # both padding dots dropped
    ("9m1", "another consent code (not a GP data objection)"),
    ("xakii", "another consent code (not a GP data objection)"),
    ("93C3", "Summary Care Record consent preference (not a GP data objection)"),
])
def test_a_look_alike_consent_code_is_refused_with_its_meaning(text, meaning):
    code_refused(text, f"{text} is not a GP data objection code: it means '{meaning}'.")


def test_an_unknown_code_is_refused_in_words():
    code_refused("9Nu9.", f"'9Nu9.' {NOT_IN_TABLE}")


def test_looking_up_a_pair_the_table_lacks_names_the_pair():
    with pytest.raises(KeyError) as err:
        table().lookup("type3", "register")
    assert err.value.args == (("type3", "register"),)


# ---- a corrected table ------------------------------------------------------------------------

def test_the_shipped_table_keeps_each_look_alike_once_with_its_own_meaning():
    data = shipped()
    for entry in data["do_not_confuse"]:
        if entry["read_v2"] == "9Nd1.":
            entry["meaning"] = "consent code our system uses for something else"
    t = table(data)
    named = [x for x in t.not_objections if x[0] == "9Nd1."]
    assert named == [("9Nd1.", "XaKII", "consent code our system uses for something else")]
    assert len(t.not_objections) == len(data["do_not_confuse"])


def test_a_table_without_look_alikes_still_refuses_the_named_consent_codes():
    data = shipped()
    del data["do_not_confuse"]
    t = table(data)
    assert t.not_objections == codes.ALWAYS_REFUSED
    with pytest.raises(ValidationError, match="not a GP data objection"):
        t.match("9NdH.")


def test_a_code_without_a_verify_list_is_taken_as_confirmed():
    data = shipped()
    del data["codes"][1]["verify"]
    assert table(data).lookup("type1", "withdraw").verify == ()


@pytest.mark.parametrize("text, reason", [
    ("[]", "it has no list of codes"),
    ('{"codes": {}}', "it has no list of codes"),
    ('{"codes": [5]}', "code 1 is not an object"),
])
def test_a_table_of_the_wrong_shape_is_malformed(text, reason):
    refused(text, f"The code table is malformed: {reason}")


@pytest.mark.parametrize("field", ["objection", "action", "meaning", "read_v2", "ctv3", "snomed", "status"])
def test_each_code_field_that_is_not_text_is_named_with_the_code_number(field):
    data = shipped()
    data["codes"][1][field] = 7
    refused(data, f"The code table is malformed: code 2's {field} is not text")


def test_a_verify_that_is_not_a_list_of_words_is_named():
    data = shipped()
    data["codes"][0]["verify"] = "snomed"
    refused(data, "The code table is malformed: code 1's verify is not a list of words")


def test_a_cut_off_that_is_not_text_is_named():
    data = shipped()
    data["type2_cutoff"] = 20181011
    refused(data, "The code table is malformed: type2_cutoff is not text")


@pytest.mark.parametrize("field", ["read_v2", "ctv3", "meaning"])
def test_a_look_alike_field_that_is_not_text_is_named(field):
    data = shipped()
    data["do_not_confuse"][0][field] = None
    refused(data, f"The code table is malformed: a do_not_confuse {field} is not text")


def with_code(**changes) -> dict:
    data = shipped()
    data["codes"][2].update(changes)   # type2 register
    return data


@pytest.mark.parametrize("data, problem", [
    (with_code(action="withdraw"), "it must have exactly one code for type2 register (it has 0)."),
    (with_code(objection="type1", action="register"), "it must have exactly one code for type1 register (it has 2)."),
    (dict(shipped(), codes=shipped()["codes"] + [dict(shipped()["codes"][2], objection="type3", read_v2="9Nu7.",
                                                      ctv3="XaaV7", snomed="881561000000100")]),
     "the type3 register code: unknown objection type or action."),
    (with_code(meaning="  "), "the type2 register code has no meaning."),
    (with_code(read_v2="9Nu4"), "the type2 register code: Read v2 '9Nu4' is not five characters (letters and digits, "
                                "padded with dots)."),
    (with_code(ctv3="XaaV"), "the type2 register code: CTV3 'XaaV' is not five characters."),
    (with_code(snomed="881561000000101"), "the type2 register code: SNOMED CT '881561000000101' is not a SNOMED CT "
                                          "identifier (6-18 digits with a valid check digit)."),
    (with_code(status="retired"), "the type2 register code: status 'retired' is not one of current, legacy."),
    (with_code(ctv3="xaz89"), "the code xaz89 is used twice (letter case ignored)."),
    (with_code(read_v2="9Nd1."), "the type2 register code uses a code that must be refused as not an objection."),
    (dict(shipped(), type2_cutoff="2018-10-12"),
     "the Type 2 cut-off is national (2018-10-11) and cannot be changed here."),
])
def test_each_invalid_correction_is_refused_with_its_reason(data, problem):
    refused(data, f"The code table is not valid: {problem}")


@pytest.mark.parametrize("listed", ["93C3", "93C3.."])
def test_a_look_alike_listed_with_other_padding_still_bars_the_code(listed):
    # The practice typed the look-alike without its dot, or with one too many: it is still
    # the Read code 93C3. that a correction must not turn into an objection.
    data = with_code(read_v2="93C3.", ctv3="XaaV9")
    data["do_not_confuse"] = [{"read_v2": listed, "ctv3": "XaQQQ", "meaning": "a consent code"}]
    refused(data, "The code table is not valid: the type2 register code uses a code that must be refused as not "
                  "an objection.")
