"""Registration over GraphQL: no answer tells a taken address from a new one; throttled per address."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from integration.entrypoints.support import PASSWORD, Api, failures, gid, running_api
from kingdom.adapters.identity.tables import users
from kingdom.domain.access import Permission, Policy
from kingdom.entrypoints.graphql.global_ids import decode_as
from kingdom.services.ports import ThrottlePolicy, address_key, registration_key

REGISTER = "mutation($i: RegisterUserInput!) { registerUser(input: $i) { userId } }"
LOGIN = """
mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken } }
"""
CLIENT = "127.0.0.1"
"""httpx's in-process transport reports this client address."""


async def register(api: Api, email: str, password: str = "another long secret") -> Any:
    return await api.execute(
        REGISTER, {"i": {"email": email, "displayName": "Someone", "password": password}}
    )


async def users_stored(api: Api) -> int:
    async with api.database.engine.connect() as connection:
        return (await connection.execute(select(func.count()).select_from(users))).scalar_one()


async def test_a_taken_address_gets_the_answer_a_new_one_gets(api: Api) -> None:
    ann = await api.register("ann@example.org")

    new = await register(api, "bob@example.org")
    taken = await register(api, "ANN@example.org")

    assert new.status == taken.status == 200
    assert not new.errors, new.body
    assert not taken.errors, taken.body
    assert set(new.data["registerUser"]) == set(taken.data["registerUser"]) == {"userId"}
    ghost = decode_as(taken.data["registerUser"]["userId"], "User")  # a well-formed User id
    assert ghost != ann
    assert await users_stored(api) == 2  # ann and bob: nothing written for the taken address
    reader = api.token_with(Policy.of("users", Permission.READ))
    found = await api.ok(
        "query($id: ID!) { node(id: $id) { id } }", {"id": gid("User", ghost)}, token=reader
    )
    assert found == {"node": None}  # the id names nobody
    # The account is untouched: its password still logs in, the new one does not.
    assert not (await api.execute(LOGIN, {"e": "ann@example.org", "p": PASSWORD})).errors
    refused = await api.execute(LOGIN, {"e": "ann@example.org", "p": "another long secret"})
    assert refused.codes == ["UNAUTHENTICATED"]


async def test_registrations_per_client_address_are_throttled(database_url: str) -> None:
    policy = ThrottlePolicy(register_free_attempts=2)
    async with running_api(database_url, throttle_policy=policy) as api:
        assert not (await register(api, "ann@example.org")).errors
        assert not (await register(api, "ann@example.org")).errors  # taken: counted all the same
        assert not (await register(api, "bob@example.org")).errors  # the third: blocks for 1 s

        blocked = await register(api, "cid@example.org")

        assert blocked.status == 200
        assert blocked.data is None
        [error] = blocked.errors
        assert error["extensions"] == {"code": "RATE_LIMITED", "retryAfter": 1}
        assert await users_stored(api) == 2
        assert await failures(api, registration_key(CLIENT)) == 3  # refusals are not counted
        assert await failures(api, address_key(CLIENT)) == 0  # logins have their own counter
        api.clock.advance(timedelta(seconds=1))
        assert not (await register(api, "cid@example.org")).errors
        assert await users_stored(api) == 3
