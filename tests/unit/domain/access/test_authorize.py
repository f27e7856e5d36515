import pickle
from typing import Final

import pytest

from kingdom.domain.access import (
    AccessDenied,
    Permission,
    Policy,
    PolicyContext,
    ReadScope,
    authorize,
    compile_policies,
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
