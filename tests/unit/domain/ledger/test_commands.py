from datetime import UTC, datetime

import pytest

from kingdom.domain.access import Actor
from kingdom.domain.ledger import CloseAccount, Deposit, OpenAccount, TransferFunds, Withdraw
from kingdom.domain.shared import Command, MessageMeta

META = MessageMeta("cmd-1", datetime(2024, 5, 1, tzinfo=UTC))
ACTOR = Actor.anonymous()


def test_commands_carry_their_fields_and_default_to_no_expected_version() -> None:
    commands = [
        Deposit(meta=META, actor=ACTOR, account_id="a", amount=5),
        Withdraw(meta=META, actor=ACTOR, account_id="a", amount=5),
        TransferFunds(meta=META, actor=ACTOR, source_id="a", target_id="b", amount=5),
        CloseAccount(meta=META, actor=ACTOR, account_id="a"),
    ]
    for command in commands:
        assert isinstance(command, Command)
        assert command.expected_version is None  # type: ignore[attr-defined]
        assert command.message_id == "cmd-1"
        assert command.actor is ACTOR  # type: ignore[attr-defined]


def test_open_account_names_owner_and_currency() -> None:
    command = OpenAccount(meta=META, actor=ACTOR, owner_id="u-1", currency="EUR")
    assert (command.owner_id, command.currency) == ("u-1", "EUR")


def test_commands_are_immutable_and_keyword_only() -> None:
    command = Deposit(meta=META, actor=ACTOR, account_id="a", amount=5, expected_version=3)
    assert command.expected_version == 3
    with pytest.raises(AttributeError):
        command.amount = 6  # type: ignore[misc]
    with pytest.raises(TypeError):
        Deposit(META, ACTOR, "a", 5)  # type: ignore[misc]
