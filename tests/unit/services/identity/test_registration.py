from __future__ import annotations

import pytest

from kingdom.domain.identity import RegisterUser, UserRegistered, UserStatus
from kingdom.domain.shared import Conflict, Invalid
from kingdom.services.fakes import FakeApp


async def test_registering_creates_an_active_user_with_a_hashed_password():
    app = FakeApp()

    user_id = await app.register(" Ann@Example.org ", "correct horse", "Ann")

    user = app.store.users[user_id]
    assert (user.email, user.display_name, user.status) == ("ann@example.org", "Ann", "active")
    assert user.status is UserStatus.ACTIVE
    assert await app.hasher.verify(user.password_hash, "correct horse")
    assert "correct horse" not in user.password_hash
    assert (user.role_codes, user.policies) == (set(), set())
    [event] = app.publisher.published
    assert isinstance(event, UserRegistered)
    assert (event.user_id, event.email) == (user_id, "ann@example.org")


async def test_an_address_is_registered_once_whatever_its_case():
    app = FakeApp()
    await app.register("ann@example.org")

    with pytest.raises(Conflict, match="already registered"):
        await app.register("ANN@example.org")
    assert len(app.store.users) == 1


@pytest.mark.parametrize(
    ("email", "password", "name"),
    [
        ("not an address", "correct horse", "Ann"),
        ("ann@example.org", "short", "Ann"),
        ("ann@example.org", "x" * 1025, "Ann"),
        ("ann@example.org", "correct horse", "   "),
    ],
)
async def test_invalid_input_registers_nobody(email, password, name):
    app = FakeApp()
    with pytest.raises(Invalid):
        await app.bus.handle(
            RegisterUser(meta=app.meta(), email=email, password=password, display_name=name)
        )
    assert app.store.users == {}
    assert app.publisher.published == []
