"""Synthetic letter inputs (valid 999 NHS numbers only) and PDF read-back helpers."""

from __future__ import annotations

import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfReader

from gp_optout_desktop.domain.codes import parse_code_table
from gp_optout_desktop.domain.nhs_number import synthetic_range
from gp_optout_desktop.letters.model import LetterItem, LetterRecipient, LetterRequest, PracticeDetails
from gp_optout_desktop.paths import resource

CODES = parse_code_table(resource("codes.json").read_text(encoding="utf-8"))
NHS = synthetic_range(50)
AWKWARD = "O'Brien-Ŵyn <script>&amp; Siân"

PRACTICE = PracticeDetails(
    name="Riverside Medical Centre",
    address=("12 High Street", "Llandudno", "LL30 2AB"),
    phone="01492 000000",
    email="riverside.practice@nhs.net",
    ods_code="W94001",
)


def recipient(surname="Jones", forenames="Megan", title="Ms", nhs=NHS[0], dob=date(1980, 3, 3)) -> LetterRecipient:
    return LetterRecipient(title, forenames, surname, ("Flat 2, Tŷ Gwyn", "5 Ffordd yr Orsaf", "Llandudno"),
                           "LL30 1AA", nhs, dob)


def item(name="Megan Jones", nhs=NHS[0], dob=date(1980, 3, 3), kind="type1", action="register",
         effective=date(2025, 3, 1), coding_state="confirmed", confirmed_on=date(2025, 3, 3)) -> LetterItem:
    """A confirmed code by default (a confirmation letter's item); coding_state='pending' for an
    acknowledgement's."""
    return LetterItem.from_code(name=name, nhs=nhs, dob=dob, kind=kind, action=action, effective=effective,
                                code=CODES.lookup(kind, action), coding_state=coding_state,
                                confirmed_on=confirmed_on if coding_state == "confirmed" else None)


def objection(reference="L-000001", **kw) -> LetterRequest:
    rec = kw.pop("recipient", None) or recipient()
    items = kw.pop("items", None) or (item(),)
    return LetterRequest("objection", reference, kw.pop("letter_date", date(2025, 3, 4)), rec, items, **kw)


def pdf_text(path: Path) -> list[str]:
    """Text of each page as pypdf reads it (form XObjects are not included)."""
    return [p.extract_text() for p in PdfReader(str(path)).pages]


def poppler_text(path: Path) -> list[str]:
    """Text of each page as poppler reads it, including the 'of Y' page totals drawn as forms."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed; scripts/run-tests installs it")
    run = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True)
    # poppler tolerates broken syntax but says so: a clean PDF gives no complaint at all.
    assert run.stderr == "", run.stderr[:500]
    return run.stdout.split("\f")[:-1]
