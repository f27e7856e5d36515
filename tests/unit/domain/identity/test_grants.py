import pytest

from kingdom.domain.access import Permission, Policy, PolicyContext, compile_policies
from kingdom.domain.identity import PrivilegeEscalation, ensure_can_grant
from kingdom.domain.shared import ErrorCode, Forbidden

ADMIN = compile_policies(
    [Policy.of("users", Permission.ALL), Policy.of("accounts", Permission.READ)]
)


@pytest.mark.parametrize(
    "policies",
    [
        [],
        [Policy.of("users", Permission.READ)],
        [Policy.of("users", Permission.READ | Permission.UPDATE, "u-1", "u-2")],
        [Policy.of("users", Permission.ALL), Policy.of("accounts", Permission.READ, "acc-1")],
    ],
)
def test_a_grantor_may_grant_what_it_holds(policies: list[Policy]) -> None:
    ensure_can_grant(ADMIN, policies)


def test_granting_more_than_you_hold_is_forbidden_and_names_what_is_missing() -> None:
    wanted = [
        Policy.of("users", Permission.READ),
        Policy.of("accounts", Permission.UPDATE, "acc-1"),
        Policy.of("roles", Permission.READ),
    ]

    with pytest.raises(PrivilegeEscalation) as raised:
        ensure_can_grant(ADMIN, wanted)

    error = raised.value
    assert isinstance(error, Forbidden)
    assert error.code is ErrorCode.FORBIDDEN
    assert set(error.missing) == set(wanted[1:])
    assert "accounts" in error.message
    assert "roles" in error.message


def test_holding_every_instance_by_name_does_not_grant_future_ones() -> None:
    named = compile_policies([Policy.of("users", Permission.READ, "u-1")])
    with pytest.raises(PrivilegeEscalation):
        ensure_can_grant(named, [Policy.of("users", Permission.READ)])


def test_the_empty_context_can_grant_nothing() -> None:
    with pytest.raises(PrivilegeEscalation):
        ensure_can_grant(PolicyContext.empty(), [Policy.of("users", Permission.READ, "u-1")])


def test_the_policies_may_be_any_iterable() -> None:
    ensure_can_grant(ADMIN, (p for p in [Policy.of("users", Permission.DELETE)]))
