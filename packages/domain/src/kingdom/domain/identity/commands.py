"""Requests to change identity state.

Secrets (passwords, reset tokens) are excluded from ``repr`` so a logged
command never leaks one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kingdom.domain.access import Actor, Policy
from kingdom.domain.identity.events import PolicySubject
from kingdom.domain.shared import Command, Invalid


@dataclass(frozen=True, kw_only=True)
class RegisterUser(Command):
    """Open self-registration: no actor needed."""

    email: str
    display_name: str
    password: str = field(repr=False)
    client_address: str | None = None
    """Where the request comes from (an IP address), for throttling per address; None if unknown."""
    idempotency_key: str | None = None
    """The client's key for this request: a repeat with the same key returns the first answer."""


@dataclass(frozen=True, kw_only=True)
class Authenticate(Command):
    email: str
    password: str = field(repr=False)
    client_address: str | None = None
    """Where the attempt comes from (an IP address), for throttling per address; None if unknown."""


@dataclass(frozen=True, kw_only=True)
class RefreshAccess(Command):
    """Trade a refresh token for a new access token and a new refresh token (rotation)."""

    refresh_token: str = field(repr=False)


@dataclass(frozen=True, kw_only=True)
class Logout(Command):
    """End the session (family) a refresh token belongs to."""

    refresh_token: str = field(repr=False)


@dataclass(frozen=True, kw_only=True)
class ChangePassword(Command):
    actor: Actor
    user_id: str
    new_password: str = field(repr=False)
    # Required to change one's own password; an administrator setting
    # someone else's (users:UPDATE) has none to give.
    current_password: str | None = field(default=None, repr=False)


@dataclass(frozen=True, kw_only=True)
class RequestPasswordReset(Command):
    email: str


@dataclass(frozen=True, kw_only=True)
class ResetPassword(Command):
    token: str = field(repr=False)
    new_password: str = field(repr=False)


@dataclass(frozen=True, kw_only=True)
class CreateRole(Command):
    actor: Actor
    code: str
    name: str
    policies: tuple[Policy, ...]
    idempotency_key: str | None = None
    """The client's key for this request: a repeat with the same key returns the first answer."""


@dataclass(frozen=True, kw_only=True)
class AttachPolicies(Command):
    actor: Actor
    subject: PolicySubject
    subject_id: str
    policies: tuple[Policy, ...]
    idempotency_key: str | None = None
    """The client's key for this request: a repeat with the same key returns the first answer."""

    def __post_init__(self) -> None:
        _ensure_subject(self.subject)


@dataclass(frozen=True, kw_only=True)
class DetachPolicies(Command):
    actor: Actor
    subject: PolicySubject
    subject_id: str
    policies: tuple[Policy, ...]
    idempotency_key: str | None = None
    """The client's key for this request: a repeat with the same key returns the first answer."""

    def __post_init__(self) -> None:
        _ensure_subject(self.subject)


@dataclass(frozen=True, kw_only=True)
class AssignRole(Command):
    actor: Actor
    user_id: str
    role_code: str
    idempotency_key: str | None = None
    """The client's key for this request: a repeat with the same key returns the first answer."""


@dataclass(frozen=True, kw_only=True)
class RevokeRole(Command):
    actor: Actor
    user_id: str
    role_code: str
    idempotency_key: str | None = None
    """The client's key for this request: a repeat with the same key returns the first answer."""


@dataclass(frozen=True, kw_only=True)
class DisableUser(Command):
    actor: Actor
    user_id: str
    idempotency_key: str | None = None
    """The client's key for this request: a repeat with the same key returns the first answer."""


def _ensure_subject(subject: str) -> None:
    # The Literal type is not enforced at runtime, and these come from clients.
    if subject not in ("user", "role"):
        raise Invalid(f"policies attach to a 'user' or a 'role', not {subject!r}")
