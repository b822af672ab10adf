"""Names and addresses are printed as typed, never read as markup, in every letter kind.

A practice really can be "Smith & Jones" and a surname can hold an apostrophe; someone can
also type angle brackets or an entity. Letters are laid out by reportlab, whose paragraphs
read a small markup language: a field that reached one unescaped would print in bold, lose
its text, or stop the batch. Here every practice field and every patient field of every
letter kind holds ``<``, ``&`` and ``>``; the letters are rendered to a real PDF and read
back: each value appears exactly as typed, and nowhere as markup would have rendered it.
"""

from __future__ import annotations

import html
import re
from datetime import date

import pytest
from pypdf import PdfReader

from gp_optout_desktop.domain.codes import REGISTER, TYPE1, TYPE2, WITHDRAW
from gp_optout_desktop.domain.events import CONFIRMED, INCLUDE, PENDING
from gp_optout_desktop.letters import model
from gp_optout_desktop.letters.model import LetterItem, LetterRecipient, LetterRequest, PracticeDetails
from gp_optout_desktop.letters.render import render_batch

from .helpers import CODES, NHS

PRACTICE = PracticeDetails(
    name="Smith & Jones <b>Surgery</b>",
    address=("1 <u>High</u> Street & Mews", "Upper <br/> Town", "Leeds <i>&gt;</i>"),
    phone="01632 960001 <sup>x</sup>&2",
    email="desk&<b>team</b>@surgery.invalid",
    ods_code="<F84003>&",
)
RECIPIENT = LetterRecipient(
    title="Dr <b>",
    forenames="Ann <i>&lt;",
    surname="O'Brien <i>&amp;",
    address=("Flat <1> & 2", "<para>Mill</para> Road", "Town & <font color=red>X</font>"),
    postcode="LS1 <4>AP",
    nhs_number=NHS[0],
    dob=date(1980, 3, 3),
)
CHILD_NAME = "Kid <strike>&amp;</strike> O'Brien"
PROXY_NAME = "Pat <b>Proxy</b> & Co"
POLICY_REASON = "Partners <i>agreed</i> & minuted <3"
REFERENCE = "L-<7>&8"

# For each kind: (kind of the items, action, coding state) or None for a letter without items.
ITEMS_OF = {
    model.OBJECTION: (TYPE1, REGISTER, CONFIRMED),
    model.OBJECTION_RECEIVED: (TYPE1, REGISTER, PENDING),
    model.WITHDRAWAL: (TYPE1, WITHDRAW, CONFIRMED),
    model.WITHDRAWAL_RECEIVED: (TYPE1, WITHDRAW, PENDING),
    model.INCLUDE_CONFIRMATION: (INCLUDE, REGISTER, CONFIRMED),
    model.INCLUDE_RECEIVED: (INCLUDE, REGISTER, PENDING),
    model.TYPE2_IN_ERROR: (TYPE2, REGISTER, PENDING),
    model.PRACTICE_WIDE_NOTICE: None,
    model.POLICY_CHANGE: None,
    model.TRANSFERRED: None,
}


def test_every_letter_kind_is_covered():
    assert set(ITEMS_OF) == set(model.KINDS)


def _item(name: str, dob: date, spec) -> LetterItem:
    kind, action, state = spec
    code = CODES.lookup(TYPE1, WITHDRAW) if kind == INCLUDE else CODES.lookup(kind, action)
    return LetterItem(name, NHS[1] if dob.year > 2000 else NHS[0], dob, kind, action, date(2025, 3, 1),
                      code.snomed, code.read_v2, code.ctv3, state,
                      date(2025, 3, 3) if state == CONFIRMED else None)


def _request(kind: str) -> LetterRequest:
    spec = ITEMS_OF[kind]
    extra = {}
    items: tuple = ()
    if spec is not None:
        adult = f"{RECIPIENT.forenames} {RECIPIENT.surname}"
        items = (_item(adult, RECIPIENT.dob, spec),)
        if kind in model.ITEM_KINDS:  # a parent's form for a child too, signed by a proxy
            items += (_item(CHILD_NAME, date(2019, 6, 1), spec),)
            extra = {"proxy_name": PROXY_NAME, "proxy_role": "parental_responsibility"}
    if kind == model.PRACTICE_WIDE_NOTICE:
        extra = {"policy_effective": date(2025, 4, 1), "policy_reason": POLICY_REASON}
    return LetterRequest(kind, REFERENCE, date(2025, 3, 4), RECIPIENT, items, **extra)


def _expected(kind: str) -> list[str]:
    """What this letter kind shows: the letterhead, the address window, the reference and the
    salutation always; the names of the people covered, the proxy and the GPs' reason where
    the kind has them."""
    shown = [PRACTICE.name, *PRACTICE.address, PRACTICE.phone, PRACTICE.email, PRACTICE.ods_code,
             RECIPIENT.title, RECIPIENT.forenames, RECIPIENT.surname, *RECIPIENT.address, RECIPIENT.postcode,
             RECIPIENT.salutation, REFERENCE]
    if ITEMS_OF[kind] is not None:
        shown.append(f"{RECIPIENT.forenames} {RECIPIENT.surname}")
    if kind in model.ITEM_KINDS:
        shown += [CHILD_NAME, PROXY_NAME]
    if kind == model.PRACTICE_WIDE_NOTICE:
        shown.append(POLICY_REASON)
    return shown


def _as_markup_would_render(value: str) -> str:
    """What reportlab would print for an unescaped value: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^<>]*>", "", value))


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00a0", " "))


@pytest.fixture(scope="module")
def letters_text(tmp_path_factory):
    """Every kind rendered into its own real PDF file and read back, page by page."""
    out = {}
    folder = tmp_path_factory.mktemp("markup")
    for kind in model.KINDS:
        result = render_batch([_request(kind)], PRACTICE, folder / f"{kind}.pdf")
        assert result.letters[0].pages >= 1
        out[kind] = _flat(" ".join(page.extract_text() for page in PdfReader(str(result.path)).pages))
    return out


@pytest.mark.parametrize("kind", model.KINDS)
def test_each_field_is_printed_literally(letters_text, kind):
    text = letters_text[kind]
    missing = [value for value in _expected(kind) if _flat(value) not in text]
    assert missing == []


@pytest.mark.parametrize("kind", model.KINDS)
def test_no_field_is_printed_as_markup_anywhere(letters_text, kind):
    """Each value in its escaped form in one place and as markup in another would pass the
    test above: so what markup would have printed must appear nowhere."""
    text = letters_text[kind]
    rendered_as_markup = []
    for value in _expected(kind):
        interpreted = _flat(_as_markup_would_render(value)).strip()
        if interpreted and interpreted != _flat(value) and interpreted not in _flat(value):
            if interpreted in text.replace(_flat(value), "\x00"):
                rendered_as_markup.append(value)
    assert rendered_as_markup == []


def test_the_practice_name_is_in_the_wording_as_well_as_the_letterhead(letters_text):
    """The letterhead draws the name directly; the templates also use it in their own
    (cached) paragraphs: both places must print it as typed."""
    for kind, text in letters_text.items():
        assert text.count(_flat(PRACTICE.name)) >= 2, kind


def test_markup_typed_into_the_register_prints_literally(manager, add_patient, tmp_path):
    """The same through the register: practice details saved in Settings and a patient added
    at the desk, the acknowledgement printed by the services."""
    from gp_optout_desktop.services import letters, objections, settings

    settings.set_practice_details(manager, name=PRACTICE.name, address=list(PRACTICE.address),
                                  phone=PRACTICE.phone, email=PRACTICE.email)
    pid = add_patient(manager, surname=RECIPIENT.surname, forenames=RECIPIENT.forenames,
                      address=list(RECIPIENT.address))
    objections.record(manager, pid)
    change = letters.print_batch(manager, tmp_path / "desk.pdf")
    text = _flat(" ".join(p.extract_text() for p in PdfReader(change.data["path"]).pages))
    shown = [PRACTICE.name, *PRACTICE.address, PRACTICE.phone, PRACTICE.email, RECIPIENT.forenames,
             RECIPIENT.surname, *RECIPIENT.address]
    assert [v for v in shown if _flat(v) not in text] == []
    assert _flat(_as_markup_would_render(PRACTICE.name)) not in text
    assert _flat(_as_markup_would_render(RECIPIENT.surname)) not in text.replace(_flat(RECIPIENT.surname), "")
