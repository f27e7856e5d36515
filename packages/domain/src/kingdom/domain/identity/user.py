"""The user aggregate: who someone is, how they prove it, and what they were granted.

The password hash is an opaque string made and checked by a port in the
services ring; the domain only stores it. ``token_version`` is stamped into
every issued token: bumping it voids every token issued before, without a
revocation list. It is bumped by a password change, by disabling the user,
and by every change to what the user is granted, either way: a role assigned
or revoked, a policy attached or detached, to the user or to a role the user
holds. A token then never carries grants other than the user's, and a client
whose token was refused as stale knows what to do: refresh, and the new
token carries the grants as they are now.

State lives in plain attributes (sets for roles and policies) so an ORM can
build a user without calling ``__init__``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from kingdom.domain.access import Policy
from kingdom.domain.identity.email import normalise_email
from kingdom.domain.identity.errors import UserDisabledError
from kingdom.domain.identity.events import (
    PasswordChanged,
    PasswordResetRequested,
    RefreshTokenReuseDetected,
    RegistrationAttemptedOnTakenAddress,
    RoleAssigned,
    RoleRevoked,
    UserDisabled,
    UserRegistered,
)
from kingdom.domain.identity.names import clean_name
from kingdom.domain.identity.policy_set import PolicyHolder, sorted_policies
from kingdom.domain.identity.role import Role
from kingdom.domain.shared import Conflict, Invalid, MessageMeta


class UserStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class User(PolicyHolder):
    subject = "user"

    email: str
    display_name: str
    status: UserStatus
    password_hash: str
    role_codes: set[str]
    token_version: int

    def __init__(
        self,
        *,
        id: str,
        email: str,
        display_name: str,
        password_hash: str,
        status: UserStatus = UserStatus.ACTIVE,
        role_codes: Iterable[str] = (),
        policies: Iterable[Policy] = (),
        token_version: int = 0,
        version: int = 0,
    ) -> None:
        """Rebuild a user as stored; records nothing (use :meth:`register` for a new one)."""
        super().__init__(id, version)
        self.email = email
        self.display_name = display_name
        self.password_hash = password_hash
        self.status = status
        self.role_codes = set(role_codes)
        self.policies = set(policies)
        self.token_version = token_version

    @classmethod
    def register(
        cls,
        *,
        id: str,
        email: str,
        display_name: str,
        password_hash: str,
        meta: MessageMeta,
        policies: Iterable[Policy] = (),
    ) -> User:
        """Create an active user with no roles; records :class:`UserRegistered`.

        ``policies`` are what every new user starts with (the service's
        default grants); the event lists them, so the outbox says what the
        user was given. Whether the e-mail is already taken needs the
        repository, so the service checks it; this only normalises and
        validates it.
        """
        if not id:
            raise Invalid("a user needs an id")
        user = cls(
            id=id,
            email=normalise_email(email),
            display_name=clean_name(display_name, "display name"),
            password_hash=_ensure_hash(password_hash),
            policies=policies,
        )
        user._record(
            UserRegistered(
                meta=meta,
                user_id=id,
                email=user.email,
                display_name=user.display_name,
                policies=sorted_policies(user.policies),
            )
        )
        return user

    @property
    def is_active(self) -> bool:
        return self.status == UserStatus.ACTIVE

    def ensure_can_authenticate(self) -> None:
        """Raise :class:`UserDisabledError` (an Unauthenticated) if the user is disabled."""
        if not self.is_active:
            raise UserDisabledError(self.id)

    def rehash_password(self, new_hash: str) -> None:
        """Replace the hash of the *same* password (stronger hashing parameters).

        Not a password change: no event, and ``token_version`` stays, so the
        user's other sessions survive a routine upgrade of the hash.
        """
        self.password_hash = _ensure_hash(new_hash)

    def change_password(self, new_hash: str, meta: MessageMeta) -> None:
        """Store a new hash and void every token issued under the old password."""
        self.password_hash = _ensure_hash(new_hash)
        self._void_tokens()
        self._record(PasswordChanged(meta=meta, user_id=self.id, token_version=self.token_version))

    def request_password_reset(
        self, token_id: str, expires_at: datetime, meta: MessageMeta
    ) -> None:
        """Record that a reset token was issued; the token itself is a separate record.

        Only the token's id goes into the event: events are logged and
        published, and the secret must reach the user's mailbox alone.
        """
        if not token_id:
            raise Invalid("a reset token needs an id")
        if expires_at.tzinfo is None:
            raise Invalid("a reset token's expiry must be timezone-aware")
        if expires_at <= meta.occurred_at:
            raise Invalid("a reset token must expire after it is issued")
        self._record(
            PasswordResetRequested(
                meta=meta, user_id=self.id, token_id=token_id, expires_at=expires_at
            )
        )

    def report_registration_attempt(self, meta: MessageMeta) -> None:
        """Record that someone tried to register this user's address again.

        Changes no state (no version bump, tokens stay valid): the event only
        lets the owner be told. It names the user, not the address.
        """
        self._record(RegistrationAttemptedOnTakenAddress(meta=meta, user_id=self.id))

    def report_refresh_token_reuse(self, session_id: str, meta: MessageMeta) -> None:
        """Record that an already-used refresh token of the user's session ``session_id`` came back.

        A security fact about the user's account; it changes no state (the
        session, a separate record, is revoked by the caller).
        """
        if not session_id:
            raise Invalid("a refresh session needs an id")
        self._record(RefreshTokenReuseDetected(meta=meta, user_id=self.id, session_id=session_id))

    def assign_role(self, role: Role, meta: MessageMeta) -> None:
        """Give the user ``role`` and void the tokens that lack it; a role already held: Conflict.

        Whether the assigner may hand out the role's policies is
        :func:`~kingdom.domain.identity.grants.ensure_can_grant`'s question.
        """
        if role.code in self.role_codes:
            raise Conflict(f"user {self.id!r} already has role {role.code!r}")
        self.role_codes = self.role_codes | {role.code}
        self._void_tokens()
        self._record(RoleAssigned(meta=meta, user_id=self.id, role_code=role.code))

    def revoke_role(self, role_code: str, meta: MessageMeta) -> None:
        """Take ``role_code`` away and void the tokens that carry it.

        Revoking a role the user does not hold is a Conflict.
        """
        if role_code not in self.role_codes:
            raise Conflict(f"user {self.id!r} does not have role {role_code!r}")
        self.role_codes = self.role_codes - {role_code}
        self._void_tokens()
        self._record(RoleRevoked(meta=meta, user_id=self.id, role_code=role_code))

    def attach_policies(self, policies: Iterable[Policy], meta: MessageMeta) -> None:
        """Attach ``policies`` (see :class:`PolicyHolder`) and void the tokens that lack them."""
        super().attach_policies(policies, meta)
        self._void_tokens()

    def detach_policies(self, policies: Iterable[Policy], meta: MessageMeta) -> None:
        """Detach ``policies`` (see :class:`PolicyHolder`) and void the tokens that carry them."""
        super().detach_policies(policies, meta)
        self._void_tokens()

    def role_policies_changed(self, role_code: str) -> None:
        """A role gained or lost policies: if the user holds it, void the user's tokens.

        The role records the change (:class:`PoliciesAttached` or
        :class:`PoliciesDetached`); the user records nothing, only its tokens
        change. A role the user does not hold changed nothing for the user.
        """
        if role_code in self.role_codes:
            self._void_tokens()

    def disable(self, meta: MessageMeta) -> None:
        """Stop the user from logging in and void every token already issued."""
        if not self.is_active:
            raise Conflict(f"user {self.id!r} is already disabled")
        self.status = UserStatus.DISABLED
        self._void_tokens()
        self._record(UserDisabled(meta=meta, user_id=self.id, token_version=self.token_version))

    def effective_policies(self, roles: Iterable[Role]) -> frozenset[Policy]:
        """The user's own policies plus those of the given roles that the user holds.

        Roles the user was not assigned are ignored rather than trusted: a
        caller passing the wrong roles must not widen anyone's access.
        """
        granted = set(self.policies)
        for role in roles:
            if role.code in self.role_codes:
                granted |= role.policies
        return frozenset(granted)

    def _void_tokens(self) -> None:
        # Every token carries the version current when it was issued; a token
        # with an older one is refused on its next request.
        self.token_version = self.token_version + 1


def _ensure_hash(password_hash: str) -> str:
    if not password_hash:
        raise Invalid("a password hash cannot be empty")
    return password_hash
