import pytest

from kingdom.domain.ledger import MAX_BALANCE, ensure_amount, ensure_currency
from kingdom.domain.shared import ErrorCode, Invalid


@pytest.mark.parametrize("amount", [1, 250, MAX_BALANCE])
def test_a_positive_whole_amount_is_accepted(amount: int) -> None:
    assert ensure_amount(amount) == amount


@pytest.mark.parametrize("amount", [0, -1, MAX_BALANCE + 1, True, False, 1.5, "10", None])
def test_anything_but_a_positive_int_within_range_is_invalid(amount: object) -> None:
    with pytest.raises(Invalid) as raised:
        ensure_amount(amount)  # type: ignore[arg-type]
    assert raised.value.code is ErrorCode.INVALID


@pytest.mark.parametrize("code", ["EUR", "USD", "JPY"])
def test_three_uppercase_letters_are_a_currency(code: str) -> None:
    assert ensure_currency(code) == code


@pytest.mark.parametrize(
    "code", ["", "eur", "Eur", "EURO", "EU", "E1R", "EUR\n", " EUR", "ÉUR", 978]
)
def test_anything_else_is_not_a_currency(code: object) -> None:
    with pytest.raises(Invalid):
        ensure_currency(code)  # type: ignore[arg-type]
