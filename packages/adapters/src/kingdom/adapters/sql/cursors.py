"""Opaque, tamper-evident page cursors.

A cursor carries the sort key of one row of one listing, so the next query
can seek straight to it. Clients must treat it as opaque; the server must not
trust it. Each cursor is signed (HMAC-SHA256 with a key from the
composition root) over the listing's name and the key, so a cursor that was
edited, made up, or issued by another listing is refused with
:class:`~kingdom.domain.shared.Invalid`: nothing else escapes ``decode``,
whatever the input.

Format: ``base64url(json key) "." base64url(mac)``, unpadded. The key is
readable by whoever holds the cursor; it is a row the holder was shown.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

from kingdom.domain.shared import Invalid

CursorValue = str | int | datetime
"""What a sort-key column may hold: text, an integer, or a point in time."""

KeyKinds = tuple[type[str] | type[int] | type[datetime], ...]
"""The expected type of each part of a listing's sort key, in order."""

MIN_KEY_BYTES: Final = 32
MAX_CURSOR_LENGTH: Final = 1024
"""Longer inputs are refused before any decoding work (a sort key is small)."""

_CONTEXT: Final = b"kingdom.cursor.v1"
_B64: Final = re.compile(r"[A-Za-z0-9_-]+")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# One encoder, built once: json.dumps with options builds a new one per call,
# and a page encodes a cursor for every edge.
_JSON: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


class CursorCodec:
    """Encodes sort keys as signed cursors and verifies them on the way back.

    ``key`` signs new cursors; ``previous_keys`` are still accepted, so the
    key can be rotated without breaking the cursors of clients mid-listing.
    """

    def __init__(self, key: bytes, *, previous_keys: Sequence[bytes] = ()) -> None:
        for candidate in (key, *previous_keys):
            if not isinstance(candidate, bytes) or len(candidate) < MIN_KEY_BYTES:
                raise ValueError(f"a cursor key needs at least {MIN_KEY_BYTES} random bytes")
        self._key = key
        self._keys = (key, *previous_keys)

    def encode(self, listing: str, key: Sequence[CursorValue]) -> str:
        payload = _JSON.encode([_to_json(value) for value in key]).encode()
        mac = _mac(self._key, listing, payload)
        return f"{_b64encode(payload)}.{_b64encode(mac)}"

    def decode(self, listing: str, cursor: object, kinds: KeyKinds) -> tuple[CursorValue, ...]:
        """The sort key in ``cursor`` if this codec issued it for ``listing``; else Invalid."""
        try:
            payload = self._verified_payload(listing, cursor)
            values = json.loads(payload)
        except Invalid:
            raise
        except Exception:  # bad base64, UTF-8 or JSON: all the same to the caller
            raise Invalid("invalid cursor") from None
        if not isinstance(values, list) or len(values) != len(kinds):
            raise Invalid("invalid cursor")
        return tuple(_from_json(value, kind) for value, kind in zip(values, kinds, strict=True))

    def _verified_payload(self, listing: str, cursor: object) -> bytes:
        if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR_LENGTH:
            raise Invalid("invalid cursor")
        body, _, signature = cursor.partition(".")
        if not (_B64.fullmatch(body) and _B64.fullmatch(signature)):
            raise Invalid("invalid cursor")
        payload, mac = _b64decode(body), _b64decode(signature)
        # compare_digest on every key: the time taken reveals nothing about
        # how close a forgery came.
        if not any(hmac.compare_digest(mac, _mac(key, listing, payload)) for key in self._keys):
            raise Invalid("invalid cursor")
        return payload


def _mac(key: bytes, listing: str, payload: bytes) -> bytes:
    # Length-prefixing the listing keeps (listing, payload) pairs unambiguous
    # even when a listing name carries a caller-supplied filter.
    name = listing.encode()
    message = b"%s\x00%d\x00%s%s" % (_CONTEXT, len(name), name, payload)
    return hmac.digest(key, message, hashlib.sha256)


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    # Refuse non-canonical spellings (stray bits in the last character), so
    # every accepted cursor is byte for byte one that was issued.
    if _b64encode(data) != text:
        raise binascii.Error("non-canonical base64")
    return data


def _to_json(value: CursorValue) -> str | int:
    if isinstance(value, datetime):
        # Whole microseconds since the epoch: exact, unlike a float, and
        # independent of how the driver spells time zones. Naive values are
        # UTC by the storage convention.
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return (aware - _EPOCH) // timedelta(microseconds=1)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TypeError(f"a sort key cannot hold {type(value).__name__}")
    return value


def _from_json(value: object, kind: type[str] | type[int] | type[datetime]) -> CursorValue:
    if kind is str and isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if kind is int:
            return value
        if kind is datetime:
            try:
                return _EPOCH + timedelta(microseconds=value)
            except OverflowError:
                raise Invalid("invalid cursor") from None
    raise Invalid("invalid cursor")
