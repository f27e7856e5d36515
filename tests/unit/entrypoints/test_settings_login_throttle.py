"""The login throttle's settings, and the policy the composition root builds from them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kingdom.entrypoints.composition import throttle_policy
from kingdom.entrypoints.settings import Settings, SettingsError
from kingdom.services.ports import ThrottlePolicy


def test_the_defaults_are_the_policy_defaults() -> None:
    assert throttle_policy(Settings.from_environ({})) == ThrottlePolicy()


def test_the_limits_come_from_kingdom_login_variables() -> None:
    settings = Settings.from_environ(
        {
            "KINGDOM_LOGIN_ACCOUNT_FREE_FAILURES": "3",
            "KINGDOM_LOGIN_ADDRESS_FREE_FAILURES": "50",
            "KINGDOM_LOGIN_MAX_DELAY_SECONDS": "60",
            "KINGDOM_LOGIN_QUIET_SECONDS": "120",
            "KINGDOM_REGISTER_ADDRESS_FREE_ATTEMPTS": "7",
        }
    )

    assert throttle_policy(settings) == ThrottlePolicy(
        account_free_failures=3,
        address_free_failures=50,
        register_free_attempts=7,
        max_delay=timedelta(seconds=60),
        quiet_window=timedelta(seconds=120),
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KINGDOM_LOGIN_ACCOUNT_FREE_FAILURES", "-1"),
        ("KINGDOM_LOGIN_ADDRESS_FREE_FAILURES", "many"),
        ("KINGDOM_REGISTER_ADDRESS_FREE_ATTEMPTS", "-3"),
        ("KINGDOM_LOGIN_MAX_DELAY_SECONDS", "0"),
        ("KINGDOM_LOGIN_MAX_DELAY_SECONDS", "86401"),
        ("KINGDOM_LOGIN_QUIET_SECONDS", "0"),
    ],
)
def test_a_bad_limit_is_refused_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_environ({name: value})
    assert raised.value.name == name
