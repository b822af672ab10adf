"""The one error type the forms show: its sentence, the field to highlight, and for several
problems at once every field's sentence, with the error reading as the first."""
from __future__ import annotations

from gp_optout_desktop.domain.errors import ValidationError, ValidationProblems


def test_an_error_names_its_field_and_reads_as_its_sentence():
    err = ValidationError("Enter a postcode.", "postcode")
    assert (str(err), err.field) == ("Enter a postcode.", "postcode")
    assert ValidationError("Something is wrong.").field is None
    assert isinstance(err, ValueError)


def test_several_problems_read_as_the_first_and_keep_them_all():
    given = {"surname": "Enter the patient's surname.", "postcode": "Enter a postcode."}
    err = ValidationProblems(given)
    assert (str(err), err.field) == ("Enter the patient's surname.", "surname")
    assert err.problems == given
    given["dob"] = "later change"        # the caller's dict is not shared
    assert list(err.problems) == ["surname", "postcode"]
