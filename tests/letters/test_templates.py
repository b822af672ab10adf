import pytest

from gp_optout_desktop.letters import templates
from gp_optout_desktop.letters.fields import FIELDS, describe_fields
from gp_optout_desktop.letters.model import KINDS
from gp_optout_desktop.letters.templates import TemplateError, load_template, parse_template, revise

HEADER = "template: objection\nversion: 4\nsubject: About your data\n---\n"


def write(tmp_path, kind, text):
    (tmp_path / f"{kind}.txt").write_text(text, encoding="utf-8")


@pytest.mark.parametrize("kind", KINDS)
def test_shipped_templates_load_with_a_version(kind):
    t = load_template(kind)
    assert t.kind == kind and t.version >= 1
    assert len(t.digest) == 64


@pytest.mark.parametrize("kind", KINDS)
def test_shipped_templates_signpost_the_national_data_opt_out(kind):
    source = load_template(kind).source
    for how in ("nhs.uk/your-nhs-data-matters", "NHS App", "0300 303 5678", "by post"):
        assert how in source


def test_misspelt_field_is_refused_on_load_naming_it_and_the_allowed_ones(tmp_path):
    write(tmp_path, "objection", HEADER + "Dear {salutation},\n\nYour NHS number is {nhs_numbr}.\n")
    with pytest.raises(TemplateError) as err:
        load_template("objection", tmp_path)
    message = str(err.value)
    assert "Line 7" in message and "{nhs_numbr}" in message
    assert "nhs_number" in message and "patient_name" in message
    assert err.value.field == "nhs_numbr"


def test_unknown_field_is_refused_on_save():
    current = parse_template(HEADER + "Dear {salutation},\n")
    with pytest.raises(TemplateError, match=r"\{shoe_size\}"):
        revise(HEADER + "Dear {shoe_size},\n", "objection", current)


def test_field_without_a_value_for_this_kind_is_refused():
    text = "template: practice_wide_notice\nversion: 1\nsubject: s\n---\nFrom {effective_date}.\n"
    with pytest.raises(TemplateError, match="has no value in practice_wide_notice letters"):
        parse_template(text)


def test_proxy_fields_only_inside_an_if_proxy_paragraph():
    with pytest.raises(TemplateError, match=r"start its paragraph with \[if proxy\]"):
        parse_template(HEADER + "Made by {proxy_name}.\n")
    t = parse_template(HEADER + "[if proxy] Made by {proxy_name} ({proxy_role}).\n")
    assert t.blocks[0].condition == "proxy"


def test_unknown_condition_and_stray_braces_are_refused():
    with pytest.raises(TemplateError, match=r"unknown condition '\[if proxxy\]'"):
        parse_template(HEADER + "[if proxxy] Text.\n")
    with pytest.raises(TemplateError, match="not closed"):
        parse_template(HEADER + "Dear {salutation\n")
    with pytest.raises(TemplateError, match="lone"):
        parse_template(HEADER + "Dear } you\n")
    with pytest.raises(TemplateError, match="own paragraph"):
        parse_template(HEADER + "See {recorded_table} here.\n")


def test_doubled_braces_are_literal_text():
    t = parse_template(HEADER + "Use {{this}} as is, {salutation}.\n")
    assert templates.fill(t.blocks[0].texts[0], {"salutation": "Ms Ŷr"}) == "Use {this} as is, Ms Ŷr."


def test_header_must_name_kind_and_version():
    with pytest.raises(TemplateError, match="version must be a whole number"):
        parse_template(HEADER.replace("version: 4", "version: four") + "Hi.\n")
    with pytest.raises(TemplateError, match="not 'withdrawal'"):
        parse_template(HEADER + "Hi.\n", expected_kind="withdrawal")
    with pytest.raises(TemplateError, match="'---'"):
        parse_template("template: objection\nversion: 1\nsubject: s\nHi.\n")


def test_saving_changed_wording_raises_the_version():
    current = parse_template(HEADER + "Dear {salutation},\n")
    saved = revise(HEADER + "Dear {patient_name},\n", "objection", current)
    assert saved.version == 5 and "version: 5" in saved.source
    # Identical text keeps the version; a higher version typed by the user is kept.
    assert revise(current.source, "objection", current).version == 4
    assert revise(HEADER.replace("version: 4", "version: 9") + "Hi.\n", "objection", current).version == 9
    assert revise(HEADER + "Hi.\n", "objection", None).version == 4


def test_every_field_is_described_for_the_editor():
    described = dict(describe_fields("objection"))
    assert "proxy_name" in described and "[if proxy]" in described["proxy_name"]
    assert all(FIELDS[name].description for name in FIELDS)
