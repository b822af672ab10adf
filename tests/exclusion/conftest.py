"""Fixtures for the exclusion-file tests: signing keys made once per session."""

import pytest

from gp_optout_desktop.exclusion import signing


@pytest.fixture(scope="session")
def key():
    return signing.generate_private_key()


@pytest.fixture(scope="session")
def other_key():
    return signing.generate_private_key()
