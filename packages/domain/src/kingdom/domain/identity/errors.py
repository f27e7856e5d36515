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
        super().__init__("the password reset link has expired")


class ResetTokenUsed(Invalid):
    def __init__(self) -> None:
        super().__init__("the password reset link was already used")
