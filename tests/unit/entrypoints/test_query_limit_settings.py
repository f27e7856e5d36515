"""KINGDOM_MAX_QUERY_* settings and the query limits they become."""

from __future__ import annotations

import pytest

from kingdom.entrypoints.composition import query_limits
from kingdom.entrypoints.graphql.limits import QueryLimits
from kingdom.entrypoints.settings import Settings, SettingsError


def test_the_defaults_are_the_query_limits_defaults() -> None:
    assert query_limits(Settings.from_environ({})) == QueryLimits()


def test_each_limit_comes_from_its_variable() -> None:
    settings = Settings.from_environ(
        {
            "KINGDOM_MAX_QUERY_DEPTH": "12",
            "KINGDOM_MAX_QUERY_COST": "20000",
            "KINGDOM_MAX_QUERY_TOKENS": "5000",
            "KINGDOM_MAX_QUERY_ALIASES": "0",
            "KINGDOM_MAX_QUERY_LENGTH": "4096",
            "KINGDOM_MAX_QUERY_SELECTIONS": "30",
            "KINGDOM_MAX_QUERY_MERGE_CHECKS": "500",
        }
    )
    assert query_limits(settings) == QueryLimits(
        max_depth=12,
        max_cost=20000,
        max_tokens=5000,
        max_aliases=0,
        max_length=4096,
        max_selections=30,
        max_merge_checks=500,
    )


def test_the_query_deadline_is_read_in_milliseconds() -> None:
    assert Settings.from_environ({}).query_deadline_ms == 5000
    assert Settings.from_environ({"KINGDOM_QUERY_DEADLINE_MS": "250"}).query_deadline_ms == 250


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KINGDOM_MAX_QUERY_DEPTH", "0"),
        ("KINGDOM_MAX_QUERY_DEPTH", "deep"),
        ("KINGDOM_MAX_QUERY_COST", "-5"),
        ("KINGDOM_MAX_QUERY_TOKENS", "5"),
        ("KINGDOM_MAX_QUERY_ALIASES", "1e3"),
        ("KINGDOM_MAX_QUERY_LENGTH", "99"),
        ("KINGDOM_MAX_QUERY_SELECTIONS", "0"),
        ("KINGDOM_MAX_QUERY_MERGE_CHECKS", "many"),
        ("KINGDOM_QUERY_DEADLINE_MS", "5"),
    ],
)
def test_a_bad_limit_is_refused_naming_its_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_environ({name: value})
    assert raised.value.name == name
