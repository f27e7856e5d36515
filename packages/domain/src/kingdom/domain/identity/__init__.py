"""Identity: users, roles, the policies they carry, and how users prove who they are."""

from kingdom.domain.identity.commands import (
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
from kingdom.domain.identity.email import MAX_EMAIL_LENGTH, normalise_email
from kingdom.domain.identity.errors import (
    PrivilegeEscalation,
    RefreshSessionExpired,
    RefreshSessionRevoked,
    ResetTokenExpired,
    ResetTokenUsed,
    StaleAccessToken,
    UserDisabledError,
)
from kingdom.domain.identity.events import (
    PasswordChanged,
    PasswordResetRequested,
    PoliciesAttached,
    PoliciesDetached,
    PolicySubject,
    RefreshTokenReuseDetected,
    RegistrationAttemptedOnTakenAddress,
    RoleAssigned,
    RoleCreated,
    RoleRevoked,
    UserDisabled,
    UserRegistered,
)
from kingdom.domain.identity.grants import ensure_can_grant
from kingdom.domain.identity.names import MAX_NAME_LENGTH, clean_name
from kingdom.domain.identity.policy_set import PolicyHolder, sorted_policies
from kingdom.domain.identity.reset_token import ResetToken
from kingdom.domain.identity.role import Role, ensure_role_code
from kingdom.domain.identity.session import RefreshSession
from kingdom.domain.identity.user import User, UserStatus

__all__ = [
    "MAX_EMAIL_LENGTH",
    "MAX_NAME_LENGTH",
    "AssignRole",
    "AttachPolicies",
    "Authenticate",
    "ChangePassword",
    "CreateRole",
    "DetachPolicies",
    "DisableUser",
    "Logout",
    "PasswordChanged",
    "PasswordResetRequested",
    "PoliciesAttached",
    "PoliciesDetached",
    "PolicyHolder",
    "PolicySubject",
    "PrivilegeEscalation",
    "RefreshAccess",
    "RefreshSession",
    "RefreshSessionExpired",
    "RefreshSessionRevoked",
    "RefreshTokenReuseDetected",
    "RegisterUser",
    "RegistrationAttemptedOnTakenAddress",
    "RequestPasswordReset",
    "ResetPassword",
    "ResetToken",
    "ResetTokenExpired",
    "ResetTokenUsed",
    "RevokeRole",
    "Role",
    "RoleAssigned",
    "RoleCreated",
    "RoleRevoked",
    "StaleAccessToken",
    "User",
    "UserDisabled",
    "UserDisabledError",
    "UserRegistered",
    "UserStatus",
    "clean_name",
    "ensure_can_grant",
    "ensure_role_code",
    "normalise_email",
    "sorted_policies",
]
