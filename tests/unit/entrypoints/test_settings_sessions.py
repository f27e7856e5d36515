"""Session, reset-code and password-hashing settings: defaults, ranges, and refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2.profiles import get_default_parameters

from kingdom.entrypoints.composition import session_policy
from kingdom.entrypoints.settings import Settings, SettingsError

ARGON2 = get_default_parameters()


def test_the_defaults() -> None:
    settings = Settings.from_environ({})

    assert settings.token_lifetime_seconds == 15 * 60
    assert settings.refresh_idle_seconds == 24 * 60 * 60
    assert settings.refresh_lifetime_seconds == 30 * 24 * 60 * 60
    assert settings.reset_token_ttl_seconds == 30 * 60
    assert (
        settings.password_time_cost,
        settings.password_memory_kib,
        settings.password_parallelism,
    ) == (ARGON2.time_cost, ARGON2.memory_cost, ARGON2.parallelism)


def test_values_come_from_kingdom_variables_and_make_the_session_policy() -> None:
    settings = Settings.from_environ(
        {
            "KINGDOM_REFRESH_IDLE_SECONDS": "600",
            "KINGDOM_REFRESH_LIFETIME_SECONDS": "3600",
            "KINGDOM_RESET_TOKEN_TTL_SECONDS": "1",
            "KINGDOM_PASSWORD_TIME_COST": "4",
            "KINGDOM_PASSWORD_MEMORY_KIB": str(128 * 1024),
            "KINGDOM_PASSWORD_PARALLELISM": "8",
        }
    )

    assert settings.reset_token_ttl_seconds == 1
    assert (
        settings.password_time_cost,
        settings.password_memory_kib,
        settings.password_parallelism,
    ) == (4, 128 * 1024, 8)
    policy = session_policy(settings)
    assert (policy.idle_limit, policy.absolute_lifetime) == (
        timedelta(minutes=10),
        timedelta(hours=1),
    )


def test_the_idle_limit_may_equal_the_lifetime() -> None:
    settings = Settings.from_environ(
        {"KINGDOM_REFRESH_IDLE_SECONDS": "3600", "KINGDOM_REFRESH_LIFETIME_SECONDS": "3600"}
    )
    assert session_policy(settings).idle_limit == session_policy(settings).absolute_lifetime


@pytest.mark.parametrize(
    ("environ", "name", "reason"),
    [
        ({"KINGDOM_REFRESH_IDLE_SECONDS": "soon"}, "KINGDOM_REFRESH_IDLE_SECONDS", "integer"),
        ({"KINGDOM_REFRESH_IDLE_SECONDS": "59"}, "KINGDOM_REFRESH_IDLE_SECONDS", "60 to"),
        (
            {"KINGDOM_REFRESH_LIFETIME_SECONDS": "3600"},  # shorter than the default idle limit
            "KINGDOM_REFRESH_LIFETIME_SECONDS",
            "at least KINGDOM_REFRESH_IDLE_SECONDS (86400)",
        ),
        (
            {"KINGDOM_REFRESH_LIFETIME_SECONDS": "999999999"},
            "KINGDOM_REFRESH_LIFETIME_SECONDS",
            "60 to",
        ),
        ({"KINGDOM_RESET_TOKEN_TTL_SECONDS": "0"}, "KINGDOM_RESET_TOKEN_TTL_SECONDS", "1 to"),
        ({"KINGDOM_RESET_TOKEN_TTL_SECONDS": "86401"}, "KINGDOM_RESET_TOKEN_TTL_SECONDS", "1 to"),
        (
            {"KINGDOM_PASSWORD_TIME_COST": str(ARGON2.time_cost - 1)},
            "KINGDOM_PASSWORD_TIME_COST",
            f"expected {ARGON2.time_cost} to",
        ),
        (
            {"KINGDOM_PASSWORD_MEMORY_KIB": "8"},
            "KINGDOM_PASSWORD_MEMORY_KIB",
            f"expected {ARGON2.memory_cost} to",
        ),
        (
            {"KINGDOM_PASSWORD_PARALLELISM": "1"},
            "KINGDOM_PASSWORD_PARALLELISM",
            f"expected {ARGON2.parallelism} to",
        ),
        ({"KINGDOM_PASSWORD_TIME_COST": "many"}, "KINGDOM_PASSWORD_TIME_COST", "integer"),
        ({"KINGDOM_PASSWORD_PARALLELISM": "65"}, "KINGDOM_PASSWORD_PARALLELISM", "to 64"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(
    environ: dict[str, str], name: str, reason: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_environ(environ)
    assert raised.value.name == name
    assert reason in str(raised.value)
