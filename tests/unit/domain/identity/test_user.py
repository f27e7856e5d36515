import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kingdom.domain.access import Permission, Policy
from kingdom.domain.identity import (
    PasswordChanged,
    PasswordResetRequested,
    PoliciesAttached,
    PoliciesDetached,
    RefreshTokenReuseDetected,
    RegistrationAttemptedOnTakenAddress,
    Role,
    RoleAssigned,
    RoleRevoked,
    User,
    UserDisabled,
    UserDisabledError,
    UserRegistered,
    UserStatus,
)
from kingdom.domain.shared import (
    Conflict,
    ErrorCode,
    Invalid,
    MessageMeta,
    NotFound,
    Unauthenticated,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
READ_USERS = Policy.of("users", Permission.READ)
OWN_ACC = Policy.of("accounts", Permission.READ | Permission.UPDATE, "acc-1")
ALL_ROLES = Policy.of("roles", Permission.ALL)


def meta(n: int = 1) -> MessageMeta:
    return MessageMeta(f"msg-{n}", T0 + timedelta(seconds=n))


def snapshot(user: User) -> dict[str, Any]:
    return copy.deepcopy(vars(user)) | {"events": user.pending_events}


def registered() -> User:
    user = User.register(
        id="u-1", email="ann@example.org", display_name="Ann", password_hash="h0", meta=meta(0)
    )
    user.pull_events()
    return user


def disabled() -> User:
    user = registered()
    user.disable(meta(0))
    user.pull_events()
    return user


def role(code: str, *policies: Policy) -> Role:
    return Role(code=code, name=code.title(), policies=policies)


# -- register -----------------------------------------------------------------


def test_register_creates_an_active_user_and_records_it() -> None:
    user = User.register(
        id="u-1",
        email="  Ann@Example.ORG ",
        display_name="  Ann Lee ",
        password_hash="argon2$...",
        meta=meta(),
    )

    assert user.id == "u-1"
    assert user.email == "ann@example.org"
    assert user.display_name == "Ann Lee"
    assert user.password_hash == "argon2$..."
    assert user.status is UserStatus.ACTIVE
    assert user.is_active
    assert user.role_codes == set()
    assert user.policies == set()
    assert (user.token_version, user.version) == (0, 0)
    assert user.pull_events() == [
        UserRegistered(meta=meta(), user_id="u-1", email="ann@example.org", display_name="Ann Lee")
    ]


@pytest.mark.parametrize(
    "overrides",
    [
        {"id": ""},
        {"email": "not-an-address"},
        {"display_name": "   "},
        {"display_name": "x" * 101},
        {"display_name": "Ann\x1b[31m"},
        {"password_hash": ""},
    ],
)
def test_register_refuses_invalid_input(overrides: dict[str, str]) -> None:
    fields: dict[str, Any] = {
        "id": "u-1",
        "email": "a@b.co",
        "display_name": "Ann",
        "password_hash": "h",
    }
    with pytest.raises(Invalid):
        User.register(**(fields | overrides), meta=meta())


def test_the_event_never_carries_the_password_hash() -> None:
    user = User.register(
        id="u-1", email="a@b.co", display_name="A", password_hash="SECRET-HASH", meta=meta()
    )
    assert "SECRET-HASH" not in repr(user.pull_events())


def test_the_constructor_rebuilds_a_stored_user_without_recording() -> None:
    user = User(
        id="u-1",
        email="a@b.co",
        display_name="A",
        password_hash="h",
        status=UserStatus.DISABLED,
        role_codes=["ops"],
        policies=[READ_USERS],
        token_version=3,
        version=9,
    )
    assert (user.role_codes, user.policies, user.token_version, user.version) == (
        {"ops"},
        {READ_USERS},
        3,
        9,
    )
    assert user.pending_events == ()


def test_a_user_built_without_init_like_an_orm_does_still_works() -> None:
    user = User.__new__(User)
    user.id, user.version, user.email, user.display_name = "u-7", 1, "a@b.co", "A"
    user.password_hash, user.status, user.token_version = "h", UserStatus.ACTIVE, 0
    user.role_codes, user.policies = set(), set()

    user.assign_role(role("ops"), meta(1))
    user.attach_policies([READ_USERS], meta(2))
    user.change_password("h2", meta(3))
    user.disable(meta(4))

    assert [type(e) for e in user.pull_events()] == [
        RoleAssigned,
        PoliciesAttached,
        PasswordChanged,
        UserDisabled,
    ]


# -- authentication and passwords ---------------------------------------------


def test_an_active_user_may_authenticate() -> None:
    registered().ensure_can_authenticate()


def test_a_disabled_user_may_not_authenticate() -> None:
    with pytest.raises(UserDisabledError) as raised:
        disabled().ensure_can_authenticate()
    assert isinstance(raised.value, Unauthenticated)
    assert raised.value.code is ErrorCode.UNAUTHENTICATED
    assert raised.value.user_id == "u-1"


def test_change_password_stores_the_hash_and_bumps_the_token_version() -> None:
    user = registered()

    user.change_password("h1", meta(1))
    user.change_password("h2", meta(2))

    assert (user.password_hash, user.token_version) == ("h2", 2)
    assert user.pull_events() == [
        PasswordChanged(meta=meta(1), user_id="u-1", token_version=1),
        PasswordChanged(meta=meta(2), user_id="u-1", token_version=2),
    ]


def test_an_empty_password_hash_is_refused_and_changes_nothing() -> None:
    user = registered()
    before = snapshot(user)
    with pytest.raises(Invalid):
        user.change_password("", meta())
    assert snapshot(user) == before


def test_request_password_reset_records_the_token_id_only() -> None:
    user = registered()
    expires = meta(1).occurred_at + timedelta(hours=1)
    before = copy.deepcopy(vars(user))

    user.request_password_reset("rt-1", expires, meta(1))

    assert user.pull_events() == [
        PasswordResetRequested(meta=meta(1), user_id="u-1", token_id="rt-1", expires_at=expires)
    ]
    after = vars(user)
    assert {k: v for k, v in after.items() if k != "_pending"} == {
        k: v for k, v in before.items() if k != "_pending"
    }


@pytest.mark.parametrize(
    ("token_id", "expires_at"),
    [
        ("", T0 + timedelta(hours=1)),
        ("rt-1", datetime(2024, 5, 1, 13, 0)),  # naive
        ("rt-1", T0 + timedelta(seconds=1)),  # == meta(1).occurred_at
        ("rt-1", T0 - timedelta(hours=1)),
    ],
)
def test_request_password_reset_refuses_bad_tokens_and_changes_nothing(
    token_id: str, expires_at: datetime
) -> None:
    user = registered()
    before = snapshot(user)
    with pytest.raises(Invalid):
        user.request_password_reset(token_id, expires_at, meta(1))
    assert snapshot(user) == before


# -- roles --------------------------------------------------------------------


def test_assign_role_adds_the_code_and_records_it() -> None:
    user = registered()

    user.assign_role(role("ops"), meta(1))
    user.assign_role(role("auditor"), meta(2))

    assert user.role_codes == {"ops", "auditor"}
    assert user.pull_events() == [
        RoleAssigned(meta=meta(1), user_id="u-1", role_code="ops"),
        RoleAssigned(meta=meta(2), user_id="u-1", role_code="auditor"),
    ]


def test_assigning_a_held_role_is_a_conflict_and_changes_nothing() -> None:
    user = registered()
    user.assign_role(role("ops"), meta(1))
    before = snapshot(user)
    with pytest.raises(Conflict):
        user.assign_role(role("ops"), meta(2))
    assert snapshot(user) == before


def test_revoke_role_removes_the_code_and_records_it() -> None:
    user = registered()
    user.assign_role(role("ops"), meta(1))
    user.pull_events()

    user.revoke_role("ops", meta(2))

    assert user.role_codes == set()
    assert user.pull_events() == [RoleRevoked(meta=meta(2), user_id="u-1", role_code="ops")]


def test_revoking_a_role_not_held_is_a_conflict_and_changes_nothing() -> None:
    user = registered()
    user.assign_role(role("ops"), meta(1))
    before = snapshot(user)
    with pytest.raises(Conflict):
        user.revoke_role("auditor", meta(2))
    assert snapshot(user) == before


def test_role_codes_are_replaced_not_mutated_in_place() -> None:
    user = registered()
    loaded = user.role_codes
    user.assign_role(role("ops"), meta())
    assert user.role_codes is not loaded
    assert loaded == set()


# -- policies -----------------------------------------------------------------


def test_attach_and_detach_policies_on_a_user_record_the_user_as_subject() -> None:
    user = registered()

    user.attach_policies([READ_USERS, OWN_ACC], meta(1))
    user.detach_policies([READ_USERS], meta(2))

    assert user.policies == {OWN_ACC}
    assert user.pull_events() == [
        PoliciesAttached(
            meta=meta(1), subject="user", subject_id="u-1", policies=(OWN_ACC, READ_USERS)
        ),
        PoliciesDetached(meta=meta(2), subject="user", subject_id="u-1", policies=(READ_USERS,)),
    ]


def test_detaching_a_policy_the_user_does_not_hold_is_not_found_and_changes_nothing() -> None:
    user = registered()
    user.attach_policies([READ_USERS], meta(1))
    before = snapshot(user)
    with pytest.raises(NotFound):
        user.detach_policies([OWN_ACC], meta(2))
    assert snapshot(user) == before


def test_attaching_held_policies_again_is_a_conflict_and_changes_nothing() -> None:
    user = registered()
    user.attach_policies([READ_USERS], meta(1))
    before = snapshot(user)
    with pytest.raises(Conflict):
        user.attach_policies([READ_USERS], meta(2))
    assert snapshot(user) == before


def test_effective_policies_are_the_users_own_and_its_roles() -> None:
    user = registered()
    user.attach_policies([OWN_ACC], meta(1))
    user.assign_role(role("ops"), meta(2))
    user.assign_role(role("auditor"), meta(3))

    effective = user.effective_policies(
        [role("ops", ALL_ROLES), role("auditor", READ_USERS, OWN_ACC)]
    )

    assert effective == frozenset({OWN_ACC, ALL_ROLES, READ_USERS})


def test_roles_the_user_does_not_hold_add_nothing() -> None:
    user = registered()
    user.assign_role(role("ops"), meta())
    assert user.effective_policies([role("admin", ALL_ROLES), role("ops")]) == frozenset()


def test_effective_policies_do_not_change_the_user() -> None:
    user = registered()
    user.attach_policies([OWN_ACC], meta())
    user.assign_role(role("ops"), meta())
    before = snapshot(user)
    user.effective_policies([role("ops", ALL_ROLES)])
    assert snapshot(user) == before


policies = st.builds(
    Policy.of,
    st.sampled_from(["users", "roles", "accounts"]),
    st.sampled_from(list(Permission)[1:]).filter(lambda p: p is not Permission.NONE),
    st.sampled_from(["*", "a", "b"]),
)


@given(
    own=st.frozensets(policies, max_size=4),
    held=st.frozensets(policies, max_size=4),
    other=st.frozensets(policies, max_size=4),
)
def test_effective_policies_are_exactly_the_union(
    own: frozenset[Policy], held: frozenset[Policy], other: frozenset[Policy]
) -> None:
    user = User(id="u", email="a@b.co", display_name="A", password_hash="h", policies=own)
    user.role_codes = {"held"}
    roles = [role("held", *held), role("other", *other)]
    assert user.effective_policies(roles) == own | held


# -- every grant change voids tokens -----------------------------------------


def test_every_grant_change_voids_the_users_tokens() -> None:
    # Added grants too: the client is told its token is stale and refreshes,
    # instead of being refused with a token that predates the grant.
    user = registered()
    user.assign_role(role("ops"), meta(1))
    assert user.token_version == 1
    user.attach_policies([READ_USERS], meta(2))
    assert user.token_version == 2
    user.detach_policies([READ_USERS], meta(3))
    assert user.token_version == 3
    user.revoke_role("ops", meta(4))
    assert user.token_version == 4


def test_a_refused_grant_change_keeps_the_tokens() -> None:
    user = registered()
    user.assign_role(role("ops"), meta(1))
    with pytest.raises(Conflict):
        user.assign_role(role("ops"), meta(2))
    assert user.token_version == 1


def test_a_held_role_changing_policies_voids_the_users_tokens_and_records_nothing() -> None:
    user = registered()
    user.assign_role(role("ops"), meta(1))
    user.pull_events()

    user.role_policies_changed("ops")

    assert user.token_version == 2
    assert user.role_codes == {"ops"}
    assert user.pull_events() == []  # the role records what it gained or lost


def test_a_role_the_user_does_not_hold_changing_policies_changes_nothing() -> None:
    user = registered()
    user.assign_role(role("ops"), meta(1))
    before = snapshot(user)

    user.role_policies_changed("auditor")

    assert snapshot(user) == before


def test_registering_with_default_policies_holds_them_and_says_so() -> None:
    user = User.register(
        id="u-9",
        email="new@example.org",
        display_name="New",
        password_hash="h",
        meta=meta(1),
        policies=[READ_USERS, OWN_ACC],
    )
    assert user.policies == {OWN_ACC, READ_USERS}
    assert user.token_version == 0
    assert user.pull_events() == [
        UserRegistered(
            meta=meta(1),
            user_id="u-9",
            email="new@example.org",
            display_name="New",
            policies=(OWN_ACC, READ_USERS),  # sorted: accounts before users
        )
    ]


# -- disable ------------------------------------------------------------------


def test_disable_stops_the_user_and_voids_its_tokens() -> None:
    user = registered()
    user.change_password("h1", meta(1))
    user.pull_events()

    user.disable(meta(2))

    assert user.status is UserStatus.DISABLED
    assert not user.is_active
    assert user.token_version == 2
    assert user.pull_events() == [UserDisabled(meta=meta(2), user_id="u-1", token_version=2)]


def test_disabling_twice_is_a_conflict_and_changes_nothing() -> None:
    user = disabled()
    before = snapshot(user)
    with pytest.raises(Conflict):
        user.disable(meta())
    assert snapshot(user) == before


def test_rehashing_keeps_sessions_and_records_nothing() -> None:
    user = User(id="u-1", email="a@example.org", display_name="A", password_hash="old")
    user.rehash_password("new")
    assert (user.password_hash, user.token_version, user.pending_events) == ("new", 0, ())


# -- refresh token reuse --------------------------------------------------------


def test_a_refresh_token_reuse_is_recorded_without_changing_the_user() -> None:
    user = registered()
    state = copy.deepcopy(vars(user))

    user.report_refresh_token_reuse("fam-1", meta(1))

    assert {k: v for k, v in vars(user).items() if k != "_pending"} == {
        k: v for k, v in state.items() if k != "_pending"
    }
    assert user.pull_events() == [
        RefreshTokenReuseDetected(meta=meta(1), user_id="u-1", session_id="fam-1")
    ]


def test_a_refresh_token_reuse_needs_the_session_id() -> None:
    user = registered()
    with pytest.raises(Invalid):
        user.report_refresh_token_reuse("", meta(1))
    assert user.pending_events == ()


# -- registration attempts on a taken address ------------------------------------


def test_a_registration_attempt_is_recorded_by_user_id_without_changing_the_user() -> None:
    user = registered()
    state = copy.deepcopy(vars(user))

    user.report_registration_attempt(meta(1))

    assert {k: v for k, v in vars(user).items() if k != "_pending"} == {
        k: v for k, v in state.items() if k != "_pending"
    }
    [event] = user.pull_events()
    assert event == RegistrationAttemptedOnTakenAddress(meta=meta(1), user_id="u-1")
    assert user.email not in repr(event)  # the user's id, never the address
