from __future__ import annotations

import pytest

from kingdom.domain.access import Actor, Permission, Policy
from kingdom.domain.identity import ChangePassword, PasswordChanged
from kingdom.domain.shared import Forbidden, Invalid, NotFound, Unauthenticated
from kingdom.services.fakes import FakeApp, actor


def change(app: FakeApp, who: Actor, user_id: str, current: str, new: str) -> ChangePassword:
    return ChangePassword(
        meta=app.meta(), actor=who, user_id=user_id, current_password=current, new_password=new
    )


async def test_users_change_their_own_password_with_the_current_one():
    app = FakeApp()
    ann = await app.register("ann@example.org")

    await app.bus.handle(change(app, actor(user_id=ann), ann, "correct horse", "battery staple"))

    user = app.store.users[ann]
    assert user.token_version == 1
    assert isinstance(app.store.outbox[-1], PasswordChanged)
    await app.login("ann@example.org", "battery staple")
    with pytest.raises(Unauthenticated):
        await app.login("ann@example.org", "correct horse")


async def test_the_wrong_current_password_changes_nothing():
    app = FakeApp()
    ann = await app.register("ann@example.org")
    before = app.store.users[ann].password_hash

    with pytest.raises(Unauthenticated, match="current password"):
        await app.bus.handle(change(app, actor(user_id=ann), ann, "guess", "battery staple"))
    assert app.store.users[ann].password_hash == before
    assert app.store.users[ann].token_version == 0


async def test_a_missing_current_password_is_bad_input_not_a_failed_proof():
    app = FakeApp()
    ann = await app.register("ann@example.org")
    command = ChangePassword(
        meta=app.meta(), actor=actor(user_id=ann), user_id=ann, new_password="battery staple"
    )

    with pytest.raises(Invalid, match="current password is required"):
        await app.bus.handle(command)
    assert app.store.users[ann].token_version == 0
    assert app.hasher.calls["verify"] == 0


async def test_with_users_update_on_someone_you_set_their_password_without_the_current_one():
    app = FakeApp()
    ann = await app.register("ann@example.org")
    admin = actor(Policy.of("users", Permission.UPDATE, ann), user_id="admin")

    await app.bus.handle(change(app, admin, ann, "", "battery staple"))

    await app.login("ann@example.org", "battery staple")


@pytest.mark.parametrize(
    "who",
    [
        Actor.anonymous(),
        actor(user_id="bob"),
        actor(Policy.of("users", Permission.UPDATE, "someone-else"), user_id="bob"),
        actor(Policy.of("users", Permission.READ), user_id="bob"),
    ],
)
async def test_anyone_else_is_forbidden(who):
    app = FakeApp()
    ann = await app.register("ann@example.org")

    with pytest.raises(Forbidden):
        await app.bus.handle(change(app, who, ann, "correct horse", "battery staple"))
    await app.login("ann@example.org")


async def test_a_missing_user_is_not_found_for_those_allowed_to_ask():
    app = FakeApp()
    admin = actor(Policy.of("users", Permission.UPDATE))

    with pytest.raises(NotFound):
        await app.bus.handle(change(app, admin, "ghost", "", "battery staple"))


async def test_the_new_password_must_be_acceptable():
    app = FakeApp()
    ann = await app.register("ann@example.org")

    with pytest.raises(Invalid):
        await app.bus.handle(change(app, actor(user_id=ann), ann, "correct horse", "short"))
