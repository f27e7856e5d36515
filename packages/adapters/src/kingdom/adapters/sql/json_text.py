"""JSON column text decoded: fast, and never refusing what was stored."""

from __future__ import annotations

import json
from typing import Any

import orjson


def decode_json(text: str | bytes) -> Any:
    """A JSON column's value: orjson (in C: a page of users has a policy list per row),
    or ``json.loads`` for what orjson refuses and the standard library reads (an
    escaped lone surrogate): a stored row must never become unreadable."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
