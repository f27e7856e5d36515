"""Custom scalars: points in time, and amounts of money too big for GraphQL's Int."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final

from ariadne import ScalarType
from graphql import IntValueNode, StringValueNode, ValueNode

from kingdom.domain.ledger import MAX_BALANCE

_DIGITS: Final = re.compile(r"-?[0-9]{1,19}")
_NOT_AN_AMOUNT: Final = 'an Amount is a whole number of minor units, e.g. "1500"'


def serialize_date_time(value: datetime) -> str:
    if value.tzinfo is None:  # storage keeps UTC; never guess any other zone
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def serialize_amount(value: int) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"an Amount must be an int, not {type(value).__name__}")


def parse_amount(value: Any) -> int:
    """A variable's value: a decimal string (``"1500"``) or a JSON integer.

    Sign and size are the domain's to judge (``Invalid``, with its message);
    this only insists on a whole number that fits 64 bits.
    """
    if isinstance(value, bool):
        raise ValueError(_NOT_AN_AMOUNT)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value):
        number = int(value)
    else:
        raise ValueError(_NOT_AN_AMOUNT)
    if abs(number) > MAX_BALANCE:
        raise ValueError("an Amount must fit in 64 bits")
    return number


def parse_amount_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> int:
    """An inline value: ``1500`` or ``"1500"``."""
    if isinstance(node, IntValueNode):
        return parse_amount(int(node.value))
    if isinstance(node, StringValueNode):
        return parse_amount(node.value)
    raise ValueError(_NOT_AN_AMOUNT)


SCALARS: Final = (
    ScalarType("DateTime", serializer=serialize_date_time),
    ScalarType(
        "Amount",
        serializer=serialize_amount,
        value_parser=parse_amount,
        literal_parser=parse_amount_literal,
    ),
)
