"""Amounts and currencies: the input checks every money operation shares.

Money is an ``int`` of minor units (cents), never a float, so sums are exact.
Balances must fit a signed 64-bit column, hence :data:`MAX_BALANCE`.
"""

from __future__ import annotations

import re

from kingdom.domain.shared import Invalid

MAX_BALANCE = 2**63 - 1
"""The largest balance (and so the largest amount) an account can hold."""

_CURRENCY = re.compile(r"[A-Z]{3}")


def ensure_amount(amount: int) -> int:
    """Return ``amount`` if it is a positive whole number of minor units, else raise Invalid.

    ``bool`` is an ``int`` subclass, so ``True`` would otherwise pass as one cent.
    """
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise Invalid("an amount must be a whole number of minor units")
    if amount <= 0:
        raise Invalid("an amount must be positive")
    if amount > MAX_BALANCE:
        raise Invalid("an amount is too large")
    return amount


def ensure_currency(code: str) -> str:
    """Return ``code`` if it looks like an ISO-4217 code (three uppercase letters).

    No case folding: a currency is an identifier compared for equality, and
    accepting "usd" here would only move the surprise elsewhere.
    """
    if not isinstance(code, str) or _CURRENCY.fullmatch(code) is None:
        raise Invalid(f"{code!r} is not an ISO-4217 currency code")
    return code
