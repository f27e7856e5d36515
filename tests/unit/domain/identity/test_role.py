import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from kingdom.domain.access import Permission, Policy
from kingdom.domain.identity import (
    PoliciesAttached,
    PoliciesDetached,
    Role,
    RoleCreated,
    ensure_role_code,
)
from kingdom.domain.shared import Conflict, Invalid, MessageMeta, NotFound

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
READ_USERS = Policy.of("users", Permission.READ)
EDIT_ACC = Policy.of("accounts", Permission.UPDATE, "acc-1")
ALL_ROLES = Policy.of("roles", Permission.ALL)


def meta(n: int = 1) -> MessageMeta:
    return MessageMeta(f"msg-{n}", T0)


def snapshot(role: Role) -> dict[str, Any]:
    return copy.deepcopy(vars(role)) | {"events": role.pending_events}


def a_role(*policies: Policy) -> Role:
    role = Role.create(code="auditor", name="Auditor", policies=policies, meta=meta(0))
    role.pull_events()
    return role


def test_create_makes_a_role_identified_by_its_code_and_records_it() -> None:
    role = Role.create(
        code="support.tier-1", name="  Support  ", policies=[READ_USERS, EDIT_ACC], meta=meta()
    )

    assert role.id == role.code == "support.tier-1"
    assert role.name == "Support"
    assert role.policies == {READ_USERS, EDIT_ACC}
    assert role.version == 0
    assert role.pull_events() == [
        RoleCreated(
            meta=meta(),
            role_code="support.tier-1",
            name="Support",
            policies=(EDIT_ACC, READ_USERS),  # sorted by resource
        )
    ]


def test_a_role_may_start_without_policies() -> None:
    role = Role.create(code="empty", name="Empty", policies=[], meta=meta())
    assert role.policies == set()
    assert role.pull_events()[0].policies == ()  # type: ignore[attr-defined]


@pytest.mark.parametrize("code", ["ab", "a" * 64, "a0_.-z", "support.tier-1"])
def test_valid_role_codes(code: str) -> None:
    assert ensure_role_code(code) == code


@pytest.mark.parametrize(
    "code", ["", "a", "a" * 65, "Admin", "1admin", "_admin", "ad min", "admin\n", "adm!n"]
)
def test_invalid_role_codes_are_refused(code: str) -> None:
    with pytest.raises(Invalid):
        Role.create(code=code, name="Name", policies=[], meta=meta())


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "bad\nname"])
def test_invalid_role_names_are_refused(name: str) -> None:
    with pytest.raises(Invalid):
        Role.create(code="admin", name=name, policies=[], meta=meta())


def test_attach_adds_only_new_policies_and_records_them_in_order() -> None:
    role = a_role(READ_USERS)

    role.attach_policies([ALL_ROLES, READ_USERS, EDIT_ACC], meta())

    assert role.policies == {READ_USERS, ALL_ROLES, EDIT_ACC}
    assert role.pull_events() == [
        PoliciesAttached(
            meta=meta(), subject="role", subject_id="auditor", policies=(EDIT_ACC, ALL_ROLES)
        )
    ]


def test_attach_replaces_the_set_instead_of_mutating_it() -> None:
    # An ORM sees assignments, not in-place mutation of a loaded collection.
    role = a_role(READ_USERS)
    loaded = role.policies
    role.attach_policies([EDIT_ACC], meta())
    assert role.policies is not loaded
    assert loaded == {READ_USERS}


def test_attaching_only_held_policies_is_a_conflict_and_changes_nothing() -> None:
    role = a_role(READ_USERS)
    before = snapshot(role)
    with pytest.raises(Conflict):
        role.attach_policies([READ_USERS], meta())
    assert snapshot(role) == before


@pytest.mark.parametrize("method", ["attach_policies", "detach_policies"])
def test_attaching_or_detaching_nothing_is_invalid_and_changes_nothing(method: str) -> None:
    role = a_role(READ_USERS)
    before = snapshot(role)
    with pytest.raises(Invalid):
        getattr(role, method)([], meta())
    assert snapshot(role) == before


def test_detach_removes_the_policies_and_records_them() -> None:
    role = a_role(READ_USERS, EDIT_ACC, ALL_ROLES)

    role.detach_policies([ALL_ROLES, READ_USERS], meta())

    assert role.policies == {EDIT_ACC}
    assert role.pull_events() == [
        PoliciesDetached(
            meta=meta(), subject="role", subject_id="auditor", policies=(ALL_ROLES, READ_USERS)
        )
    ]


def test_detaching_a_policy_not_held_is_not_found_and_changes_nothing() -> None:
    role = a_role(READ_USERS, EDIT_ACC)
    before = snapshot(role)
    with pytest.raises(NotFound):
        role.detach_policies([READ_USERS, ALL_ROLES], meta())  # one held, one not: neither goes
    assert snapshot(role) == before


def test_a_role_built_without_init_like_an_orm_does_still_works() -> None:
    role = Role.__new__(Role)
    role.id, role.version, role.name, role.policies = "ops", 2, "Ops", {READ_USERS}

    role.attach_policies([EDIT_ACC], meta())

    assert role.code == "ops"
    assert len(role.pull_events()) == 1


def test_the_constructor_rebuilds_without_recording() -> None:
    role = Role(code="ops", name="Ops", policies=[READ_USERS], version=4)
    assert (role.code, role.name, role.policies, role.version) == ("ops", "Ops", {READ_USERS}, 4)
    assert role.pending_events == ()
