"""KINGDOM_DATABASE_POOL_SIZE: PostgreSQL connections kept open per worker."""

from __future__ import annotations

import pytest

from kingdom.adapters.sql.engine import DEFAULT_POOL_SIZE
from kingdom.entrypoints.settings import Settings, SettingsError


def test_the_pool_size_defaults_above_the_usual_concurrency_and_can_be_set() -> None:
    assert Settings.from_environ({}).database_pool_size == DEFAULT_POOL_SIZE == 20
    assert Settings.from_environ({"KINGDOM_DATABASE_POOL_SIZE": "5"}).database_pool_size == 5


@pytest.mark.parametrize("value", ["0", "-1", "1001", "many"])
def test_a_bad_pool_size_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_environ({"KINGDOM_DATABASE_POOL_SIZE": value})
    assert refused.value.name == "KINGDOM_DATABASE_POOL_SIZE"
