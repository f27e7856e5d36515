"""Stored policies read for views: decoded once per distinct text, sorted, never shared mutably."""

from __future__ import annotations

import pytest

from kingdom.adapters.sql.json_text import decode_json
from kingdom.adapters.sql.policies import encode_policies, policies_of_text
from kingdom.domain.access import Permission, Policy

OWN_ACCOUNTS = Policy("accounts", Permission(15), frozenset({"@own"}))
OWN_USER = Policy("users", Permission(5), frozenset({"@own"}))


def test_the_same_text_decodes_once_to_the_same_sorted_tuple() -> None:
    text = '[{"resource": "users", "permissions": 5, "selectors": ["@own"]}, ' + (
        '{"resource": "accounts", "permissions": 15, "selectors": ["@own"]}]'
    )
    first = policies_of_text(text)
    assert first == (OWN_ACCOUNTS, OWN_USER)  # sorted, whatever the stored order
    assert policies_of_text(str(text)) is first  # one decoding per distinct text
    assert isinstance(first, tuple)  # immutable: safe to hand to every row


def test_postgresql_jsonb_text_and_sqlite_text_decode_alike() -> None:
    # JSONB's text form orders keys its own way and spaces differently.
    jsonb = '[{"selectors": ["@own"], "resource": "accounts", "permissions": 15}]'
    assert policies_of_text(jsonb) == (OWN_ACCOUNTS,)
    assert decode_json(jsonb) == encode_policies([OWN_ACCOUNTS])


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "{}",
        '[{"resource": "accounts"}]',
        '[{"resource": "a", "permissions": true, "selectors": []}]',
    ],
)
def test_a_corrupt_value_raises_instead_of_granting_anything(text: str) -> None:
    with pytest.raises(ValueError, match=r"(?i)expecting|must be|not an encoded"):
        policies_of_text(text)
    # And nothing is remembered as if it had decoded.
    with pytest.raises(ValueError, match=r"(?i)expecting|must be|not an encoded"):
        policies_of_text(text)
