import pickle
from typing import Final

import pytest

from kingdom.domain.access import (
    OWN_INSTANCES,
    AccessDenied,
    Permission,
    Policy,
    PolicyContext,
    ReadScope,
    authorize,
    compile_policies,
    precheck,
)
from kingdom.domain.shared import ErrorCode, Forbidden

# Final keeps the literal member types, so authorize()'s overloads apply.
READ: Final = Permission.READ
CREATE: Final = Permission.CREATE
UPDATE: Final = Permission.UPDATE
DELETE: Final = Permission.DELETE

CONTEXT = compile_policies(
    [
        Policy.of("users", READ | CREATE),
        Policy.of("users", UPDATE, "u1"),
        Policy.of("accounts", READ | DELETE, "a1", "a2"),
    ]
)


def test_read_with_a_wildcard_grant_is_everything() -> None:
    assert authorize(CONTEXT, "users", READ) == ReadScope.everything()


def test_read_with_instance_grants_is_those_ids() -> None:
    scope = authorize(CONTEXT, "accounts", READ)
    assert scope == ReadScope(all=False, ids=frozenset({"a1", "a2"}))
    assert scope.allows("a1")
    assert not scope.allows("a3")
    assert not scope.denied


def test_read_without_grants_is_an_empty_scope_not_an_error() -> None:
    scope = authorize(CONTEXT, "roles", READ)
    assert scope == ReadScope.nothing()
    assert scope.denied
    assert not scope.allows("r1")


def test_read_of_one_instance_narrows_the_scope_to_it() -> None:
    assert authorize(CONTEXT, "users", READ, "u9") == ReadScope(False, frozenset({"u9"}))
    assert authorize(CONTEXT, "accounts", READ, "a1") == ReadScope(False, frozenset({"a1"}))
    assert authorize(CONTEXT, "accounts", READ, "a3").denied


def test_a_wildcard_selector_means_every_instance() -> None:
    assert authorize(CONTEXT, "accounts", READ, "*") == authorize(CONTEXT, "accounts", READ)
    assert authorize(CONTEXT, "users", CREATE, "*") is True


def test_write_allowed_returns_true() -> None:
    assert authorize(CONTEXT, "users", CREATE) is True
    assert authorize(CONTEXT, "users", UPDATE, "u1") is True
    assert authorize(CONTEXT, "accounts", DELETE, "a2") is True


def test_write_without_a_selector_needs_the_wildcard() -> None:
    with pytest.raises(AccessDenied):
        authorize(CONTEXT, "users", UPDATE)


def test_access_denied_names_resource_action_and_selector() -> None:
    with pytest.raises(AccessDenied) as raised:
        authorize(CONTEXT, "users", UPDATE, "u2")
    denied = raised.value
    assert (denied.resource, denied.action, denied.selector) == ("users", UPDATE, "u2")
    assert denied.message == str(denied) == "not allowed to update users 'u2'"
    assert isinstance(denied, Forbidden)
    assert denied.code is ErrorCode.FORBIDDEN


def test_access_denied_without_selector() -> None:
    with pytest.raises(AccessDenied) as raised:
        authorize(PolicyContext.empty(), "accounts", CREATE)
    assert raised.value.selector is None
    assert str(raised.value) == "not allowed to create accounts"


def test_access_denied_survives_pickling() -> None:
    denied = AccessDenied("accounts", DELETE, "a1")
    copy = pickle.loads(pickle.dumps(denied))
    assert type(copy) is AccessDenied
    assert (copy.resource, copy.action, copy.selector, copy.message) == (
        "accounts",
        DELETE,
        "a1",
        denied.message,
    )


@pytest.mark.parametrize("action", [READ | UPDATE, Permission.ALL, Permission.NONE, 16])
def test_action_must_be_exactly_one_flag(action: Permission) -> None:
    with pytest.raises(ValueError, match="exactly one action"):
        authorize(CONTEXT, "users", action)


def test_a_plain_int_action_is_accepted() -> None:
    assert authorize(CONTEXT, "users", 2) is True  # type: ignore[call-overload]


def test_read_scope_drops_ids_when_everything_is_readable() -> None:
    assert ReadScope(all=True, ids=frozenset({"x"})) == ReadScope.everything()
    assert ReadScope.everything().allows("anything")
    assert not ReadScope.everything().denied


# Ownership: "@own" grants apply to the caller's own instances.

OWNER = compile_policies(
    [
        Policy.of("accounts", Permission.ALL, OWN_INSTANCES),
        Policy.of("accounts", READ, "a9"),
        Policy.of("users", READ | UPDATE, OWN_INSTANCES),
    ]
)


def test_own_grants_apply_when_the_caller_owns_the_instance() -> None:
    assert authorize(OWNER, "accounts", UPDATE, "a1", caller="ada", owner="ada") is True
    assert authorize(OWNER, "accounts", DELETE, "a1", caller="ada", owner="ada") is True
    with pytest.raises(AccessDenied):
        authorize(OWNER, "accounts", UPDATE, "a1", caller="ada", owner="bob")
    with pytest.raises(AccessDenied):
        authorize(OWNER, "accounts", UPDATE, "a1", caller="ada")  # owner unknown
    with pytest.raises(AccessDenied):
        authorize(OWNER, "accounts", UPDATE, "a1", owner="ada")  # nobody asking


def test_creating_needs_everything_or_the_caller_as_the_new_owner() -> None:
    assert authorize(OWNER, "accounts", CREATE, caller="ada", owner="ada") is True
    with pytest.raises(AccessDenied):
        authorize(OWNER, "accounts", CREATE, caller="ada", owner="bob")
    with pytest.raises(AccessDenied):
        authorize(OWNER, "accounts", CREATE, caller="ada")


def test_a_listing_with_own_reads_includes_the_callers_instances() -> None:
    scope = authorize(OWNER, "accounts", READ, caller="ada")
    assert scope == ReadScope(all=False, ids=frozenset({"a9"}), owner="ada")
    assert scope.allows("a9")
    assert scope.allows("a1", "ada")
    assert not scope.allows("a1", "bob")
    assert not scope.allows("a1")  # owner unknown: not provably in scope
    # Without a caller nobody owns anything.
    assert authorize(OWNER, "accounts", READ) == ReadScope(False, frozenset({"a9"}))
    assert authorize(OWNER, "users", READ, caller="ada") == ReadScope.owned_by("ada")
    assert authorize(OWNER, "users", READ).denied


def test_reading_one_instance_with_own_reads() -> None:
    # Owner known: exactly that instance, or nothing.
    assert authorize(OWNER, "accounts", READ, "a1", caller="ada", owner="ada") == ReadScope(
        False, frozenset({"a1"})
    )
    assert authorize(OWNER, "accounts", READ, "a1", caller="ada", owner="bob").denied
    # Owner unknown: the caller's own instances, to look the id up in.
    assert authorize(OWNER, "accounts", READ, "a1", caller="ada") == ReadScope.owned_by("ada")
    assert authorize(OWNER, "accounts", READ, "a9", caller="ada") == ReadScope(
        False, frozenset({"a9"})
    )


def test_own_names_no_instance_and_a_listing_has_no_owner() -> None:
    with pytest.raises(ValueError, match="names no instance"):
        authorize(OWNER, "accounts", UPDATE, OWN_INSTANCES, caller="ada", owner="ada")
    with pytest.raises(ValueError, match="listing has no owner"):
        authorize(OWNER, "accounts", READ, caller="ada", owner="ada")


def test_precheck_refuses_only_what_no_owner_could_allow() -> None:
    precheck(OWNER, "accounts", UPDATE, "a1", caller="ada")  # if it is ada's
    precheck(OWNER, "accounts", CREATE, caller="ada")
    precheck(CONTEXT, "users", UPDATE, "u1")  # granted outright
    with pytest.raises(AccessDenied):
        precheck(OWNER, "accounts", UPDATE, "a1")  # nobody asking owns nothing
    with pytest.raises(AccessDenied):
        precheck(OWNER, "roles", UPDATE, "r1", caller="ada")
    with pytest.raises(ValueError, match="writes"):
        precheck(OWNER, "accounts", READ, caller="ada")


def test_read_scope_with_an_owner() -> None:
    assert ReadScope(all=True, owner="ada") == ReadScope.everything()
    assert not ReadScope.owned_by("ada").denied
    assert hash(ReadScope.owned_by("ada")) == hash(ReadScope(False, frozenset(), "ada"))
    with pytest.raises(ValueError, match="owner"):
        ReadScope(all=False, owner="")
