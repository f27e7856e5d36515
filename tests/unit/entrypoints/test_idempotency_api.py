"""Idempotency keys at the edge: the retention setting and the error codes clients see."""

from __future__ import annotations

import pytest
from graphql import GraphQLError

from kingdom.entrypoints.graphql.errors import format_error
from kingdom.entrypoints.settings import Settings, SettingsError
from kingdom.services.ports.idempotency import IdempotencyKeyInUse, IdempotencyKeyReused


def test_the_retention_is_a_day_by_default_and_set_in_seconds() -> None:
    assert Settings.from_environ({}).idempotency_retention_seconds == 86_400
    settings = Settings.from_environ({"KINGDOM_IDEMPOTENCY_RETENTION_SECONDS": "60"})
    assert settings.idempotency_retention_seconds == 60
    with pytest.raises(SettingsError) as raised:
        Settings.from_environ({"KINGDOM_IDEMPOTENCY_RETENTION_SECONDS": "0"})
    assert raised.value.name == "KINGDOM_IDEMPOTENCY_RETENTION_SECONDS"


@pytest.mark.parametrize(
    ("error", "extensions"),
    [
        (IdempotencyKeyReused(), {"code": "IDEMPOTENCY_KEY_REUSED", "status": 422}),
        (
            IdempotencyKeyInUse(),
            {"code": "IDEMPOTENCY_KEY_IN_USE", "status": 409, "retryable": True},
        ),
    ],
)
def test_key_refusals_have_their_own_codes(error: Exception, extensions: dict[str, object]) -> None:
    formatted = format_error(GraphQLError(str(error), path=["transfer"], original_error=error))

    assert formatted["extensions"] == extensions
    assert formatted["message"] == str(error)
