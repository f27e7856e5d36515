from datetime import UTC, datetime

import pytest

from kingdom.domain.access import Actor, Permission, Policy
from kingdom.domain.identity import (
    AssignRole,
    AttachPolicies,
    Authenticate,
    ChangePassword,
    CreateRole,
    DetachPolicies,
    DisableUser,
    Logout,
    RefreshAccess,
    RegisterUser,
    RequestPasswordReset,
    ResetPassword,
    RevokeRole,
)
from kingdom.domain.shared import Command, Invalid, MessageMeta

META = MessageMeta("cmd-1", datetime(2024, 5, 1, tzinfo=UTC))
ACTOR = Actor.anonymous()
POLICY = Policy.of("users", Permission.READ)


def test_every_command_can_be_built_and_is_a_command() -> None:
    commands: list[Command] = [
        RegisterUser(meta=META, email="a@b.c", display_name="A", password="pw"),
        Authenticate(meta=META, email="a@b.c", password="pw"),
        ChangePassword(meta=META, actor=ACTOR, user_id="u", current_password="a", new_password="b"),
        RequestPasswordReset(meta=META, email="a@b.c"),
        ResetPassword(meta=META, token="tok", new_password="pw"),
        CreateRole(meta=META, actor=ACTOR, code="ops", name="Ops", policies=(POLICY,)),
        AttachPolicies(meta=META, actor=ACTOR, subject="user", subject_id="u", policies=(POLICY,)),
        DetachPolicies(
            meta=META, actor=ACTOR, subject="role", subject_id="ops", policies=(POLICY,)
        ),
        AssignRole(meta=META, actor=ACTOR, user_id="u", role_code="ops"),
        RevokeRole(meta=META, actor=ACTOR, user_id="u", role_code="ops"),
        DisableUser(meta=META, actor=ACTOR, user_id="u"),
        RefreshAccess(meta=META, refresh_token="fam.secret"),
        Logout(meta=META, refresh_token="fam.secret"),
    ]
    assert all(c.message_id == "cmd-1" for c in commands)


def test_secrets_never_appear_in_a_commands_repr() -> None:
    commands = [
        RegisterUser(meta=META, email="a@b.c", display_name="A", password="s3cret-1"),
        Authenticate(meta=META, email="a@b.c", password="s3cret-1"),
        ChangePassword(
            meta=META,
            actor=ACTOR,
            user_id="u",
            current_password="s3cret-1",
            new_password="s3cret-2",
        ),
        ResetPassword(meta=META, token="s3cret-1", new_password="s3cret-2"),
        RefreshAccess(meta=META, refresh_token="fam.s3cret-1"),
        Logout(meta=META, refresh_token="fam.s3cret-1"),
    ]
    for command in commands:
        assert "s3cret" not in repr(command)


@pytest.mark.parametrize("command", [AttachPolicies, DetachPolicies])
def test_policies_attach_only_to_users_or_roles(command: type[AttachPolicies]) -> None:
    with pytest.raises(Invalid):
        command(meta=META, actor=ACTOR, subject="group", subject_id="g", policies=(POLICY,))  # type: ignore[arg-type]


def test_commands_are_immutable() -> None:
    command = DisableUser(meta=META, actor=ACTOR, user_id="u")
    with pytest.raises(AttributeError):
        command.user_id = "v"  # type: ignore[misc]
