"""Relay global ids: one opaque string naming both a type and an instance.

A global id is ``base64url("Type:id")`` without padding. It is opaque to
clients, not secret: anyone can decode it, and nothing is granted by holding
one (every lookup still goes through the caller's read scope). Decoding is
strict, so each object has exactly one spelling of its id and junk is refused
with :class:`~kingdom.domain.shared.Invalid` (``BAD_USER_INPUT``), never a 500.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Final

from kingdom.domain.shared import Invalid

NODE_TYPES: Final = frozenset({"User", "Role", "Account", "Transfer", "AuditEntry"})
"""The types that implement ``Node`` (and so may appear in a global id)."""

MAX_GLOBAL_ID_LENGTH: Final = 256
_BASE64URL: Final = re.compile(r"[A-Za-z0-9_-]+")
_TO_URLSAFE: Final = bytes.maketrans(b"+/", b"-_")


def encode(type_name: str, id: str) -> str:
    if type_name not in NODE_TYPES:
        raise ValueError(f"{type_name!r} does not implement Node")
    # base64.urlsafe_b64encode, without its two Python-level hops: once per row of a page.
    encoded = binascii.b2a_base64(f"{type_name}:{id}".encode(), newline=False)
    return encoded.translate(_TO_URLSAFE).rstrip(b"=").decode("ascii")


def decode(global_id: object) -> tuple[str, str]:
    """The ``(type, id)`` a global id names; :class:`Invalid` if it names nothing."""
    if (
        not isinstance(global_id, str)
        or len(global_id) > MAX_GLOBAL_ID_LENGTH
        or not _BASE64URL.fullmatch(global_id)
    ):
        raise Invalid("not a valid id")
    try:
        text = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        raise Invalid("not a valid id") from None
    type_name, colon, id = text.partition(":")
    if (
        not colon
        or not id
        or "\x00" in id  # PostgreSQL cannot even compare text holding NUL
        or type_name not in NODE_TYPES
        or encode(type_name, id) != global_id
    ):
        raise Invalid("not a valid id")
    return type_name, id


def decode_as(global_id: object, type_name: str) -> str:
    """The id inside a global id that must name a ``type_name``."""
    found, id = decode(global_id)
    if found != type_name:
        raise Invalid(f"expected the id of a {type_name}, got the id of a {found}")
    return id
