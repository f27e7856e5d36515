"""What a new password must look like: 8 to 1024 characters, nothing else."""

from __future__ import annotations

import pytest

from kingdom.domain.shared import Invalid
from kingdom.services.identity.password_rules import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    ensure_acceptable_password,
)


def test_the_length_bounds_are_8_and_1024_characters() -> None:
    assert (MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH) == (8, 1024)


@pytest.mark.parametrize(
    "password",
    [
        "a" * 8,
        "a" * 1024,
        "aaaaaaaa",  # no composition rules: no digit, capital or symbol needed
        "correct horse battery staple",
        "🐴" * 1024,  # characters, not bytes: 4096 bytes of UTF-8 are fine
    ],
)
def test_any_password_of_an_acceptable_length_is_accepted(password: str) -> None:
    ensure_acceptable_password(password)


@pytest.mark.parametrize("password", ["", "a" * 7, "a" * 1025])
def test_shorter_or_longer_passwords_are_refused(password: str) -> None:
    with pytest.raises(Invalid, match="8 to 1024 characters"):
        ensure_acceptable_password(password)
