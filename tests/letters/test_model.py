from datetime import date

import pytest

from gp_optout_desktop.domain.errors import ValidationError
from gp_optout_desktop.letters.model import LetterRequest

from .helpers import NHS, item, objection, recipient


def test_proxy_needs_name_and_role_together():
    with pytest.raises(ValidationError, match="both a name and a role"):
        objection(proxy_name="Gwen Jones")
    with pytest.raises(ValidationError, match="Unknown proxy role"):
        objection(proxy_name="Gwen Jones", proxy_role="neighbour")
    letter = objection(proxy_name="Gwen Jones", proxy_role="lpa_health_welfare")
    assert letter.proxy_role_label == "Lasting power of attorney (health and welfare)"


def test_objection_letter_refuses_a_withdrawal_item():
    with pytest.raises(ValidationError, match="objections only"):
        objection(items=(item(action="withdraw"),))


def test_confirmation_needs_an_item_and_notice_needs_a_date():
    with pytest.raises(ValidationError, match="at least one"):
        LetterRequest("withdrawal", "L-1", date(2025, 3, 4), recipient(), ())
    with pytest.raises(ValidationError, match="applies from"):
        LetterRequest("practice_wide_notice", "L-1", date(2025, 3, 4), recipient())


def test_nhs_number_is_validated_and_normalised():
    assert recipient(nhs=f"{NHS[3][:3]} {NHS[3][3:6]} {NHS[3][6:]}").nhs_number == NHS[3]
    with pytest.raises(ValidationError):
        recipient(nhs="9990000019")  # check digit wrong


def test_salutation_uses_title_and_surname_or_full_name():
    assert recipient(title="Mr", forenames="Ifan", surname="ap Dafydd").salutation == "Mr ap Dafydd"
    assert recipient(title="", forenames="Ifan", surname="ap Dafydd").salutation == "Ifan ap Dafydd"
