"""Identity's refusals, stable subclasses of the shared hierarchy."""

from __future__ import annotations

from collections.abc import Iterable

from kingdom.domain.access import Policy
from kingdom.domain.shared import Forbidden, Invalid, Unauthenticated


class PrivilegeEscalation(Forbidden):
    """A grantor tried to hand out permissions it does not hold itself."""

    def __init__(self, missing: Iterable[Policy]) -> None:
        self.missing = tuple(missing)
        resources = sorted({policy.resource for policy in self.missing})
        super().__init__(
            "cannot grant permissions you do not hold yourself (on " + ", ".join(resources) + ")"
        )


class UserDisabledError(Unauthenticated):
    """A disabled user may not log in, whatever the credentials."""

    def __init__(self, user_id: str) -> None:
        super().__init__("this account is disabled")
        self.user_id = user_id


class ResetTokenExpired(Invalid):
    def __init__(self) -> None:
        super().__init__("the password reset code has expired")


class ResetTokenUsed(Invalid):
    def __init__(self) -> None:
        super().__init__("the password reset code was already used")


class StaleAccessToken(Unauthenticated):
    """An access token issued before its user's ``token_version`` last changed.

    The token is genuine, but what it says (the grants, or that the password
    it was issued under still holds) may no longer be true. Refreshing
    is the way on: the session, if still alive, issues a token as things are now.
    """

    def __init__(self) -> None:
        super().__init__(
            "this access token is out of date (the user's permissions, password or status "
            "changed after it was issued): call refresh with your refresh token for a "
            "current one, or log in again"
        )


class RefreshSessionRevoked(Unauthenticated):
    """The session was ended (logout, password change, a replayed token)."""

    def __init__(self) -> None:
        super().__init__("this session was revoked; log in again")


class RefreshSessionExpired(Unauthenticated):
    """The session outlived its absolute lifetime, or idled past the limit (``idle``)."""

    def __init__(self, *, idle: bool) -> None:
        why = " after a period of inactivity" if idle else ""
        super().__init__(f"this session has expired{why}; log in again")
        self.idle = idle
