"""The KINGDOM_PASSWORD_* settings reach argon2id, and raising them rehashes at login.

Real argon2 at production cost (argon2-cffi's defaults and above), so a few
tenths of a second per test.
"""

from __future__ import annotations

from argon2 import Type, extract_parameters

from kingdom.adapters.security.passwords import DEFAULT_MEMORY_COST, DEFAULT_TIME_COST
from kingdom.entrypoints.composition import password_hasher
from kingdom.entrypoints.settings import Settings
from kingdom.services.fakes import FakeApp

EMAIL, PASSWORD = "ann@example.org", "correct horse battery"


def test_the_settings_configure_the_hasher() -> None:
    hasher = password_hasher(
        Settings.from_environ(
            {
                "KINGDOM_PASSWORD_TIME_COST": str(DEFAULT_TIME_COST + 1),
                "KINGDOM_PASSWORD_MEMORY_KIB": str(DEFAULT_MEMORY_COST * 2),
                "KINGDOM_PASSWORD_PARALLELISM": "8",
            }
        )
    )

    parameters = hasher.parameters
    assert parameters.type is Type.ID
    assert (parameters.time_cost, parameters.memory_cost, parameters.parallelism) == (
        DEFAULT_TIME_COST + 1,
        DEFAULT_MEMORY_COST * 2,
        8,
    )


async def test_raising_a_cost_setting_rehashes_each_password_at_its_next_login() -> None:
    before = password_hasher(Settings.from_environ({}))
    after = password_hasher(
        Settings.from_environ({"KINGDOM_PASSWORD_TIME_COST": str(DEFAULT_TIME_COST + 1)})
    )
    app = FakeApp(hasher=before)  # type: ignore[arg-type]
    user_id = await app.register(EMAIL, PASSWORD)
    old_hash = app.store.users[user_id].password_hash
    # The same data, served by a process started with the raised setting.
    restarted = FakeApp(store=app.store, clock=app.clock, ids=app.ids, hasher=after)  # type: ignore[arg-type]

    await restarted.login(EMAIL, PASSWORD)

    user = app.store.users[user_id]
    assert extract_parameters(old_hash).time_cost == DEFAULT_TIME_COST
    assert extract_parameters(user.password_hash).time_cost == DEFAULT_TIME_COST + 1
    assert not after.needs_rehash(user.password_hash)
    assert user.token_version == 0  # a rehash is not a password change
    assert await restarted.login(EMAIL, PASSWORD)  # the new hash verifies
