"""The identity command handlers, one plain async function per command."""

from __future__ import annotations

from collections.abc import Mapping

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
from kingdom.domain.shared import Command
from kingdom.services.identity.authentication import authenticate
from kingdom.services.identity.password_reset import request_password_reset, reset_password
from kingdom.services.identity.passwords import change_password
from kingdom.services.identity.policies import attach_policies, detach_policies
from kingdom.services.identity.refresh import logout, refresh_access
from kingdom.services.identity.registration import register_user
from kingdom.services.identity.roles import assign_role, create_role, revoke_role
from kingdom.services.identity.users import disable_user
from kingdom.services.injection import Handler

COMMAND_HANDLERS: Mapping[type[Command], Handler] = {
    RegisterUser: register_user,
    Authenticate: authenticate,
    RefreshAccess: refresh_access,
    Logout: logout,
    ChangePassword: change_password,
    RequestPasswordReset: request_password_reset,
    ResetPassword: reset_password,
    CreateRole: create_role,
    AttachPolicies: attach_policies,
    DetachPolicies: detach_policies,
    AssignRole: assign_role,
    RevokeRole: revoke_role,
    DisableUser: disable_user,
}

__all__ = [
    "COMMAND_HANDLERS",
    "assign_role",
    "attach_policies",
    "authenticate",
    "change_password",
    "create_role",
    "detach_policies",
    "disable_user",
    "logout",
    "refresh_access",
    "register_user",
    "request_password_reset",
    "reset_password",
    "revoke_role",
]
