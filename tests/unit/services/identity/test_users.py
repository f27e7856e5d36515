from __future__ import annotations

import pytest

from kingdom.domain.access import Permission, Policy
from kingdom.domain.identity import DisableUser, UserDisabled, UserStatus
from kingdom.domain.shared import Conflict, Forbidden, NotFound, Unauthenticated
from kingdom.services.fakes import FakeApp, actor, superuser


async def test_a_disabled_user_cannot_log_in_and_old_tokens_are_void():
    app = FakeApp()
    ann = await app.register("ann@example.org")
    before = await app.login("ann@example.org")

    await app.bus.handle(DisableUser(meta=app.meta(), actor=superuser(), user_id=ann))

    user = app.store.users[ann]
    assert user.status is UserStatus.DISABLED
    assert user.token_version > app.tokens.claims(before.token).token_version  # type: ignore[union-attr]
    assert isinstance(app.store.outbox[-1], UserDisabled)
    with pytest.raises(Unauthenticated):
        await app.login("ann@example.org")


async def test_disabling_needs_users_delete_not_just_update():
    app = FakeApp()
    ann = await app.register("ann@example.org")
    editor = actor(Policy.of("users", Permission.READ | Permission.UPDATE, ann))

    with pytest.raises(Forbidden):
        await app.bus.handle(DisableUser(meta=app.meta(), actor=editor, user_id=ann))
    assert app.store.users[ann].status is UserStatus.ACTIVE

    remover = actor(Policy.of("users", Permission.DELETE, ann))
    await app.bus.handle(DisableUser(meta=app.meta(), actor=remover, user_id=ann))


async def test_disabling_twice_is_a_conflict_and_a_missing_user_not_found():
    app = FakeApp()
    ann = await app.register("ann@example.org")
    await app.bus.handle(DisableUser(meta=app.meta(), actor=superuser(), user_id=ann))

    with pytest.raises(Conflict):
        await app.bus.handle(DisableUser(meta=app.meta(), actor=superuser(), user_id=ann))
    with pytest.raises(NotFound):
        await app.bus.handle(DisableUser(meta=app.meta(), actor=superuser(), user_id="ghost"))
