"""ODS practice codes as the practice-details form sees them: what is accepted, and the
sentence and field shown when it is not (the form highlights the field the error names)."""
from __future__ import annotations

import pytest

from gp_optout_desktop.domain import ods
from gp_optout_desktop.domain.errors import ValidationError

REFUSED = "A GP practice ODS code is one letter and five digits, e.g. F84003."


@pytest.mark.parametrize("bad", ["F8400", "F840031", "84003F", "FF4003", "", "   ", "F 84003"])
def test_a_wrong_code_is_refused_with_one_sentence_on_the_ods_field(bad):
    with pytest.raises(ValidationError) as err:
        ods.validate(bad)
    assert str(err.value) == REFUSED
    assert err.value.field == "ods"


def test_a_code_typed_in_lower_case_with_spaces_is_kept_as_upper_case():
    assert ods.validate("\tm85001 ") == "M85001"
