"""Page cursors are opaque and tamper-evident: anything not issued for a listing is Invalid."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kingdom.adapters.sql.cursors import MAX_CURSOR_LENGTH, CursorCodec
from kingdom.domain.shared import Invalid

KEY = b"k" * 32
codec = CursorCodec(KEY)
KINDS = (datetime, str)
WHEN = datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC)


def test_a_cursor_round_trips_its_key_exactly() -> None:
    cursor = codec.encode("transfers", (WHEN, "t-1"))
    assert codec.decode("transfers", cursor, KINDS) == (WHEN, "t-1")
    assert codec.decode("accounts", codec.encode("accounts", ("a",)), (str,)) == ("a",)
    assert codec.decode("n", codec.encode("n", (2**63 - 1,)), (int,)) == (2**63 - 1,)


def test_datetimes_come_back_in_utc_whatever_zone_went_in() -> None:
    local = WHEN.astimezone(timezone(timedelta(hours=-7)))
    decoded, _ = codec.decode("t", codec.encode("t", (local, "x")), KINDS)
    assert isinstance(decoded, datetime)
    assert decoded == WHEN
    assert decoded.utcoffset() == timedelta(0)


def test_cursors_are_url_safe_and_opaque() -> None:
    cursor = codec.encode("users", ("alice@example.com", "u-1"))
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def test_a_cursor_of_another_listing_is_refused() -> None:
    cursor = codec.encode("accounts", ("a-1",))
    with pytest.raises(Invalid):
        codec.decode("roles", cursor, (str,))
    with pytest.raises(Invalid):
        codec.decode("transfers/account=a-1", codec.encode("transfers/account=a-2", ("x",)), (str,))


def test_a_cursor_signed_with_another_key_is_refused() -> None:
    foreign = CursorCodec(b"f" * 32).encode("accounts", ("a-1",))
    with pytest.raises(Invalid):
        codec.decode("accounts", foreign, (str,))


def test_previous_keys_still_verify_after_a_rotation() -> None:
    old = CursorCodec(b"o" * 32).encode("accounts", ("a-1",))
    rotated = CursorCodec(b"n" * 32, previous_keys=[b"o" * 32])
    assert rotated.decode("accounts", old, (str,)) == ("a-1",)
    # New cursors are signed with the new key only.
    with pytest.raises(Invalid):
        CursorCodec(b"o" * 32).decode("accounts", rotated.encode("accounts", ("a-1",)), (str,))


def test_an_edited_key_is_refused_even_with_a_well_formed_payload() -> None:
    cursor = codec.encode("accounts", ("a-1",))
    _, mac = cursor.split(".")
    forged = base64.urlsafe_b64encode(json.dumps(["a-2"]).encode()).rstrip(b"=").decode()
    with pytest.raises(Invalid):
        codec.decode("accounts", f"{forged}.{mac}", (str,))


def test_a_cursor_of_the_wrong_shape_is_refused_even_when_signed() -> None:
    # Signed by us, but for a key with other types: still Invalid, never a TypeError.
    with pytest.raises(Invalid):
        codec.decode("t", codec.encode("t", ("not-a-time", "x")), KINDS)
    with pytest.raises(Invalid):
        codec.decode("t", codec.encode("t", (WHEN,)), KINDS)
    with pytest.raises(Invalid):
        codec.decode("t", codec.encode("t", (10**20, "x")), KINDS)  # beyond datetime's range


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        ".",
        "abc",
        "abc.",
        ".abc",
        "a.b.c",
        "a+b.c/d",
        "====.====",
        "é.é",
        "\x00.\x00",
        "x" * (MAX_CURSOR_LENGTH + 1),
        None,
        42,
        b"bytes.bytes",
    ],
)
def test_malformed_cursors_are_invalid(cursor: object) -> None:
    with pytest.raises(Invalid):
        codec.decode("accounts", cursor, (str,))


def test_a_non_canonical_spelling_of_a_valid_cursor_is_refused() -> None:
    cursor = codec.encode("accounts", ("a-1",))
    body, mac = cursor.split(".")
    # The last character of an unpadded base64 group carries unused bits;
    # flipping one of them decodes to the same bytes but is not what we issued.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(mac[-1])
    twins = [c for c in alphabet if c != mac[-1] and alphabet.index(c) >> 2 == last >> 2]
    assert twins, "a 32-byte MAC leaves spare bits in its last character"
    with pytest.raises(Invalid):
        codec.decode("accounts", f"{body}.{mac[:-1]}{twins[0]}", (str,))


@given(st.text(max_size=300))
def test_no_input_raises_anything_but_invalid(cursor: str) -> None:
    with pytest.raises(Invalid):
        codec.decode("accounts", cursor, (str,))


@given(st.integers(min_value=0, max_value=200), st.integers(min_value=0, max_value=7))
def test_every_single_bit_flip_is_detected(position: int, bit: int) -> None:
    cursor = codec.encode("users", ("someone@example.com", "u-0001"))
    raw = bytearray(cursor.encode())
    index = position % len(raw)
    raw[index] ^= 1 << bit
    try:
        tampered = raw.decode()
    except UnicodeDecodeError:
        return
    with pytest.raises(Invalid):
        codec.decode("users", tampered, (str, str))


def test_short_keys_are_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="32"):
        CursorCodec(b"short")
    with pytest.raises(ValueError, match="32"):
        CursorCodec(KEY, previous_keys=[b"short"])
