"""JSON columns are read by orjson, falling back to the standard library for what only it reads."""

from __future__ import annotations

import json

import pytest

from kingdom.adapters.sql.json_text import decode_json

STORED = [
    '{"meta": {"message_id": "m-1"}, "amount": 9223372036854775807, "name": "Ann \\u00e9"}',
    '[{"resource": "accounts", "permissions": 1, "selectors": ["*", "@own"]}]',
    "[]",
    "null",
]


@pytest.mark.parametrize("text", STORED)
def test_what_we_store_reads_as_the_standard_library_reads_it(text: str) -> None:
    assert decode_json(text) == json.loads(text)


def test_an_escaped_lone_surrogate_still_reads() -> None:
    # orjson refuses it; a row holding one must not become unreadable.
    assert decode_json('{"name": "A\\ud800B"}') == {"name": "A\ud800B"}


def test_text_that_is_not_json_is_still_an_error() -> None:
    with pytest.raises(json.JSONDecodeError, match="Expecting property name"):
        decode_json("{not json")
