"""Facts identity records. None carries a password, a hash, or a token secret."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from kingdom.domain.access import Policy
from kingdom.domain.shared import Event

PolicySubject = Literal["user", "role"]
"""What policies can be attached to directly."""


@dataclass(frozen=True, kw_only=True)
class UserRegistered(Event):
    """``policies``: what the new user starts with (the registration defaults), sorted."""

    user_id: str
    email: str
    display_name: str
    policies: tuple[Policy, ...] = ()


@dataclass(frozen=True, kw_only=True)
class RegistrationAttemptedOnTakenAddress(Event):
    """Someone tried to register the address user ``user_id`` already has.

    Not a change to the user: a fact about an attempt, committed so the
    owner can be told (by mail). Names the user by id only: never the
    address, nor anything the attempt supplied (name, password), which came
    from whoever tried.
    """

    user_id: str


@dataclass(frozen=True, kw_only=True)
class PasswordChanged(Event):
    """``token_version`` is the new one: tokens issued under older versions are void."""

    user_id: str
    token_version: int


@dataclass(frozen=True, kw_only=True)
class PasswordResetRequested(Event):
    """Names the reset token by id only; the secret goes to the mailbox, never to a log."""

    user_id: str
    token_id: str
    expires_at: datetime


@dataclass(frozen=True, kw_only=True)
class RefreshTokenReuseDetected(Event):
    """A refresh token that was already rotated away came back: probably a stolen copy.

    A security event. The session family it belongs to was revoked, so the
    thief and the user alike must log in again. Names the family by id only.
    """

    user_id: str
    session_id: str


@dataclass(frozen=True, kw_only=True)
class RoleCreated(Event):
    role_code: str
    name: str
    policies: tuple[Policy, ...]


@dataclass(frozen=True, kw_only=True)
class PoliciesAttached(Event):
    """Lists only the policies that were newly attached, in a stable order."""

    subject: PolicySubject
    subject_id: str
    policies: tuple[Policy, ...]


@dataclass(frozen=True, kw_only=True)
class PoliciesDetached(Event):
    subject: PolicySubject
    subject_id: str
    policies: tuple[Policy, ...]


@dataclass(frozen=True, kw_only=True)
class RoleAssigned(Event):
    user_id: str
    role_code: str


@dataclass(frozen=True, kw_only=True)
class RoleRevoked(Event):
    user_id: str
    role_code: str


@dataclass(frozen=True, kw_only=True)
class UserDisabled(Event):
    user_id: str
    token_version: int
