from __future__ import annotations

import pytest

from kingdom.domain.access import Actor, Permission, Policy, compile_policies
from kingdom.domain.identity import (
    AttachPolicies,
    DetachPolicies,
    PoliciesAttached,
    PoliciesDetached,
    PolicySubject,
    PrivilegeEscalation,
    Role,
)
from kingdom.domain.shared import Conflict, Forbidden, NotFound
from kingdom.services.fakes import FakeApp, actor, superuser

READ_ACCOUNTS = Policy.of("accounts", Permission.READ)
READ_USERS = Policy.of("users", Permission.READ)


async def arrange() -> tuple[FakeApp, str]:
    # Newcomers start with no grants here, so a user holds exactly what a test attaches.
    app = FakeApp(settings={"new_user_policies": ()})
    ann = await app.register("ann@example.org")
    app.store.put(Role(code="reader", name="Reader"))
    return app, ann


def attach(app: FakeApp, who: Actor, subject: PolicySubject, id: str) -> AttachPolicies:
    return AttachPolicies(
        meta=app.meta(), actor=who, subject=subject, subject_id=id, policies=(READ_ACCOUNTS,)
    )


def detach(app: FakeApp, who: Actor, subject: PolicySubject, id: str) -> DetachPolicies:
    return DetachPolicies(
        meta=app.meta(), actor=who, subject=subject, subject_id=id, policies=(READ_ACCOUNTS,)
    )


async def test_attaching_and_detaching_on_a_user_and_on_a_role():
    app, ann = await arrange()
    for subject, id, table in (("user", ann, app.store.users), ("role", "reader", app.store.roles)):
        await app.bus.handle(attach(app, superuser(), subject, id))  # type: ignore[arg-type]
        assert table[id].policies == {READ_ACCOUNTS}
        assert isinstance(app.store.outbox[-1], PoliciesAttached)

        await app.bus.handle(detach(app, superuser(), subject, id))  # type: ignore[arg-type]
        assert table[id].policies == set()
        assert isinstance(app.store.outbox[-1], PoliciesDetached)


async def test_update_on_the_subject_is_needed_on_the_right_resource():
    app, ann = await arrange()
    # UPDATE on users does not cover roles, and the reverse.
    user_admin = actor(Policy.of("users", Permission.UPDATE), READ_ACCOUNTS)
    role_admin = actor(Policy.of("roles", Permission.UPDATE), READ_ACCOUNTS)

    with pytest.raises(Forbidden):
        await app.bus.handle(attach(app, user_admin, "role", "reader"))
    with pytest.raises(Forbidden):
        await app.bus.handle(attach(app, role_admin, "user", ann))
    with pytest.raises(Forbidden):
        await app.bus.handle(detach(app, user_admin, "role", "reader"))
    await app.bus.handle(attach(app, role_admin, "role", "reader"))


async def test_attaching_what_you_do_not_hold_is_escalation():
    app, ann = await arrange()
    with pytest.raises(PrivilegeEscalation):
        await app.bus.handle(attach(app, actor(Policy.of("users", Permission.UPDATE)), "user", ann))
    assert app.store.users[ann].policies == set()


async def test_detaching_needs_no_grant_of_the_policies_themselves():
    app, ann = await arrange()
    await app.bus.handle(attach(app, superuser(), "user", ann))

    await app.bus.handle(
        detach(app, actor(Policy.of("users", Permission.UPDATE, ann)), "user", ann)
    )

    assert app.store.users[ann].policies == set()


async def test_missing_subjects_and_policies_and_duplicates():
    app, ann = await arrange()
    with pytest.raises(NotFound):
        await app.bus.handle(attach(app, superuser(), "user", "ghost"))
    with pytest.raises(NotFound):
        await app.bus.handle(attach(app, superuser(), "role", "ghost"))
    with pytest.raises(NotFound):
        await app.bus.handle(detach(app, superuser(), "user", ann))  # not attached
    await app.bus.handle(attach(app, superuser(), "user", ann))
    with pytest.raises(Conflict):
        await app.bus.handle(attach(app, superuser(), "user", ann))


# Every change of policies takes effect at once: the tokens are void, a refresh renews them.


async def test_attaching_to_a_user_voids_its_tokens_and_a_refresh_carries_the_policy():
    app, ann = await arrange()
    issued = await app.login("ann@example.org")

    await app.bus.handle(attach(app, superuser(), "user", ann))

    old = app.tokens.claims(issued.token)
    assert old is not None
    assert old.context == compile_policies([])
    assert app.store.users[ann].token_version == old.token_version + 1
    renewed = app.tokens.claims((await app.refresh(issued.refresh_token)).token)
    assert renewed is not None
    assert renewed.token_version == app.store.users[ann].token_version
    assert renewed.context == compile_policies([READ_ACCOUNTS])


async def test_detaching_from_a_user_voids_its_tokens_and_a_refresh_drops_the_policy():
    app, ann = await arrange()
    await app.bus.handle(attach(app, superuser(), "user", ann))
    issued = await app.login("ann@example.org")

    await app.bus.handle(detach(app, superuser(), "user", ann))

    old = app.tokens.claims(issued.token)
    assert old is not None
    assert old.context == compile_policies([READ_ACCOUNTS])
    assert app.store.users[ann].token_version == old.token_version + 1
    renewed = app.tokens.claims((await app.refresh(issued.refresh_token)).token)
    assert renewed is not None
    assert renewed.token_version == app.store.users[ann].token_version
    assert renewed.context == compile_policies([])


async def test_attaching_to_a_role_voids_the_tokens_of_its_holders_only():
    app, ann = await arrange()
    bob = await app.register("bob@example.org")
    for holder in (ann,):
        app.store.users[holder].role_codes = {"reader"}

    await app.bus.handle(attach(app, superuser(), "role", "reader"))

    versions = {id: app.store.users[id].token_version for id in (ann, bob)}
    assert versions == {ann: 1, bob: 0}


async def test_a_user_may_manage_its_own_grants_with_own_users_update_but_not_escalate():
    app, ann = await arrange()
    me = actor(Policy.of("users", Permission.UPDATE, "@own"), READ_ACCOUNTS, user_id=ann)
    bob = await app.register("bob@example.org")

    await app.bus.handle(attach(app, me, "user", ann))
    with pytest.raises(Forbidden):
        await app.bus.handle(attach(app, me, "user", bob))  # not its own
    with pytest.raises(Forbidden):
        await app.bus.handle(attach(app, me, "role", "reader"))  # roles are nobody's

    assert app.store.users[ann].policies == {READ_ACCOUNTS}
    assert app.store.users[bob].policies == set()


async def test_detaching_from_a_role_voids_the_tokens_of_its_holders_only():
    app, ann = await arrange()
    bob = await app.register("bob@example.org")
    cid = await app.register("cid@example.org")
    app.store.roles["reader"].policies = {READ_ACCOUNTS, READ_USERS}
    for holder in (ann, bob):
        app.store.users[holder].role_codes = {"reader"}
    issued = await app.login("ann@example.org")

    await app.bus.handle(detach(app, superuser(), "role", "reader"))

    versions = {id: app.store.users[id].token_version for id in (ann, bob, cid)}
    assert versions == {ann: 1, bob: 1, cid: 0}
    assert app.store.users[ann].role_codes == {"reader"}  # still holds the role
    renewed = app.tokens.claims((await app.refresh(issued.refresh_token)).token)
    assert renewed is not None
    assert renewed.token_version == 1
    assert renewed.context == compile_policies([READ_USERS])
