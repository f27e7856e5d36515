from __future__ import annotations

import pytest

from kingdom.domain.access import Actor, Permission, Policy, compile_policies
from kingdom.domain.identity import (
    AssignRole,
    CreateRole,
    PrivilegeEscalation,
    RevokeRole,
    Role,
    RoleAssigned,
    RoleCreated,
    RoleRevoked,
)
from kingdom.domain.shared import Conflict, Forbidden, Invalid, NotFound
from kingdom.services.fakes import FakeApp, actor, superuser

READ_ACCOUNTS = Policy.of("accounts", Permission.READ)
ROLES_CREATE = Policy.of("roles", Permission.CREATE)


def create(app: FakeApp, who: Actor, code: str = "reader", *policies: Policy) -> CreateRole:
    return CreateRole(
        meta=app.meta(), actor=who, code=code, name="Reader", policies=policies or (READ_ACCOUNTS,)
    )


async def test_creating_a_role():
    app = FakeApp()

    code = await app.bus.handle(create(app, superuser()))

    role = app.store.roles[code]
    assert (role.code, role.name, role.policies) == ("reader", "Reader", {READ_ACCOUNTS})
    assert isinstance(app.store.outbox[-1], RoleCreated)


async def test_creating_a_role_needs_roles_create_on_every_role():
    app = FakeApp()
    only_one = actor(Policy.of("roles", Permission.CREATE, "reader"), READ_ACCOUNTS)

    with pytest.raises(Forbidden):
        await app.bus.handle(create(app, only_one))
    assert app.store.roles == {}


async def test_a_role_cannot_carry_policies_its_creator_lacks():
    app = FakeApp()

    with pytest.raises(PrivilegeEscalation):
        await app.bus.handle(create(app, actor(ROLES_CREATE)))
    assert app.store.roles == {}


async def test_a_role_code_is_taken_once():
    app = FakeApp()
    await app.bus.handle(create(app, superuser()))

    with pytest.raises(Conflict):
        await app.bus.handle(create(app, superuser()))


async def test_a_malformed_role_code_is_invalid():
    app = FakeApp()
    with pytest.raises(Invalid):
        await app.bus.handle(create(app, superuser(), "Not A Code"))


async def arrange_user_and_role() -> tuple[FakeApp, str]:
    # Newcomers start with no grants here, so a user holds exactly what its roles give.
    app = FakeApp(settings={"new_user_policies": ()})
    ann = await app.register("ann@example.org")
    app.store.put(Role(code="reader", name="Reader", policies=[READ_ACCOUNTS]))
    return app, ann


def assign(app: FakeApp, who: Actor, user_id: str, code: str = "reader") -> AssignRole:
    return AssignRole(meta=app.meta(), actor=who, user_id=user_id, role_code=code)


def revoke(app: FakeApp, who: Actor, user_id: str, code: str = "reader") -> RevokeRole:
    return RevokeRole(meta=app.meta(), actor=who, user_id=user_id, role_code=code)


async def test_an_assigned_role_grants_its_policies_at_the_next_login():
    app, ann = await arrange_user_and_role()

    await app.bus.handle(assign(app, superuser(), ann))

    assert app.store.users[ann].role_codes == {"reader"}
    assert isinstance(app.store.outbox[-1], RoleAssigned)
    issued = await app.login("ann@example.org")
    assert app.tokens.claims(issued.token).context == compile_policies(  # type: ignore[union-attr]
        [READ_ACCOUNTS]
    )


async def test_assigning_needs_users_update_on_that_user():
    app, ann = await arrange_user_and_role()
    elsewhere = actor(Policy.of("users", Permission.UPDATE, "bob"), READ_ACCOUNTS)

    with pytest.raises(Forbidden):
        await app.bus.handle(assign(app, elsewhere, ann))
    assert app.store.users[ann].role_codes == set()


async def test_assigning_a_role_whose_policies_the_assigner_lacks_is_escalation():
    app, ann = await arrange_user_and_role()
    user_admin = actor(Policy.of("users", Permission.UPDATE, ann))

    with pytest.raises(PrivilegeEscalation):
        await app.bus.handle(assign(app, user_admin, ann))
    assert app.store.users[ann].role_codes == set()


async def test_assigning_with_exactly_the_needed_grants_is_enough():
    app, ann = await arrange_user_and_role()
    just_enough = actor(Policy.of("users", Permission.UPDATE, ann), READ_ACCOUNTS)

    await app.bus.handle(assign(app, just_enough, ann))

    assert app.store.users[ann].role_codes == {"reader"}


async def test_assigning_a_missing_role_or_to_a_missing_user_is_not_found():
    app, ann = await arrange_user_and_role()
    with pytest.raises(NotFound, match="role"):
        await app.bus.handle(assign(app, superuser(), ann, "ghost"))
    with pytest.raises(NotFound, match="user"):
        await app.bus.handle(assign(app, superuser(), "ghost"))


async def test_assigning_twice_is_a_conflict():
    app, ann = await arrange_user_and_role()
    await app.bus.handle(assign(app, superuser(), ann))

    with pytest.raises(Conflict):
        await app.bus.handle(assign(app, superuser(), ann))


async def test_revoking_a_role():
    app, ann = await arrange_user_and_role()
    await app.bus.handle(assign(app, superuser(), ann))

    await app.bus.handle(revoke(app, actor(Policy.of("users", Permission.UPDATE, ann)), ann))

    assert app.store.users[ann].role_codes == set()
    assert isinstance(app.store.outbox[-1], RoleRevoked)


async def test_revoking_needs_users_update_and_a_held_role():
    app, ann = await arrange_user_and_role()
    with pytest.raises(Forbidden):
        await app.bus.handle(revoke(app, actor(READ_ACCOUNTS), ann))
    with pytest.raises(Conflict):
        await app.bus.handle(revoke(app, superuser(), ann))
    with pytest.raises(NotFound):
        await app.bus.handle(revoke(app, superuser(), "ghost"))


async def test_revoking_a_role_voids_the_users_tokens_and_a_refresh_drops_the_role():
    app, ann = await arrange_user_and_role()
    await app.bus.handle(assign(app, superuser(), ann))
    issued = await app.login("ann@example.org")
    old = app.tokens.claims(issued.token)
    assert old is not None
    assert old.context == compile_policies([READ_ACCOUNTS])

    await app.bus.handle(revoke(app, superuser(), ann))

    # A token with an older version is refused on its next request.
    assert app.store.users[ann].token_version == old.token_version + 1
    renewed = await app.refresh(issued.refresh_token)  # the session lives on
    new = app.tokens.claims(renewed.token)
    assert new is not None
    assert new.token_version == app.store.users[ann].token_version
    assert new.context == compile_policies([])


async def test_assigning_a_role_voids_the_users_tokens_and_a_refresh_carries_the_role():
    app, ann = await arrange_user_and_role()
    issued = await app.login("ann@example.org")

    await app.bus.handle(assign(app, superuser(), ann))

    old = app.tokens.claims(issued.token)
    assert old is not None
    assert app.store.users[ann].token_version == old.token_version + 1
    new = app.tokens.claims((await app.refresh(issued.refresh_token)).token)
    assert new is not None
    assert new.token_version == app.store.users[ann].token_version
    assert new.context == compile_policies([READ_ACCOUNTS])


async def test_a_user_may_give_itself_a_role_it_already_holds_the_policies_of():
    app, ann = await arrange_user_and_role()
    own = Policy.of("users", Permission.UPDATE, "@own")

    with pytest.raises(PrivilegeEscalation):
        await app.bus.handle(assign(app, actor(own, user_id=ann), ann))
    with pytest.raises(Forbidden):
        await app.bus.handle(assign(app, actor(own, READ_ACCOUNTS, user_id="bob"), ann))
    await app.bus.handle(assign(app, actor(own, READ_ACCOUNTS, user_id=ann), ann))

    assert app.store.users[ann].role_codes == {"reader"}
