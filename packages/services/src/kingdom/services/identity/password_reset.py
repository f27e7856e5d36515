"""Forgotten passwords: a one-time secret by e-mail, redeemed for a new password.

Only the SHA-256 of the secret is stored with the token (see
:mod:`kingdom.services.identity.secret_hashes`), and the token is found by
that hash in one indexed lookup. The secret in plain text goes into the
rendered mail only, queued in the same transaction and deleted once a
worker sent it (see :mod:`kingdom.services.mail.handlers` for why, and who
can read it meanwhile).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from kingdom.domain.identity import RequestPasswordReset, ResetPassword, ResetToken, User
from kingdom.domain.shared import Invalid, MessageMeta
from kingdom.services.identity.credentials import replace_password
from kingdom.services.identity.lookup import find_user_by_email
from kingdom.services.identity.pacing import RESET_PACING, LatencyMimic
from kingdom.services.identity.password_rules import ensure_acceptable_password
from kingdom.services.identity.secret_hashes import hash_secret
from kingdom.services.ports import (
    Clock,
    IdGenerator,
    OutgoingMail,
    PasswordHasher,
    SecretSource,
    UnitOfWork,
)

RESET_TOKEN_TTL: Final = timedelta(minutes=30)
RESET_MAIL_INTERVAL: Final = timedelta(minutes=5)
"""At most one reset code (and mail) per user this often."""
RESET_SUBJECT: Final = "Reset your Kingdom password"


class InvalidResetToken(Invalid):
    """One error for unknown, expired, used and orphaned tokens alike.

    Telling them apart would help someone probing for live tokens and helps
    the user not at all: in every case the answer is "ask for a new one".
    """

    def __init__(self) -> None:
        super().__init__("this password reset code is invalid or has expired")


def reset_mail_body(secret: str, expires_at: datetime) -> str:
    return (
        "Someone asked to reset the password of your Kingdom account.\n\n"
        f"Your reset code: {secret}\n"
        f"It works once, until {expires_at.isoformat()}.\n\n"
        "If it was not you, ignore this message; your password is unchanged.\n"
    )


async def request_password_reset(
    command: RequestPasswordReset,
    uow: UnitOfWork,
    secrets: SecretSource,
    clock: Clock,
    ids: IdGenerator,
    reset_token_ttl: timedelta = RESET_TOKEN_TTL,
    reset_mail_interval: timedelta = RESET_MAIL_INTERVAL,
    reset_pacing: LatencyMimic = RESET_PACING,
) -> None:
    """Queue a reset secret's mail for a known, active user; answer the same for anyone else.

    The secret is drawn and hashed, and the transaction committed, whatever
    the address, so answer and work are the same for known and unknown ones.
    For a known one the transaction holds the token (the secret's hash), the
    :class:`~kingdom.domain.identity.PasswordResetRequested` event and the
    rendered mail under the event's message id; a worker sends the mail once
    the event reaches it (:func:`kingdom.services.mail.handlers.send_mail`),
    so the request never waits for a mail server, and a secret whose token
    was rolled back is never mailed.

    A user gets at most one code, and one mail, per ``reset_mail_interval``:
    otherwise anyone could fill a victim's mailbox. A request inside the
    interval is answered exactly like one for an unknown address; it creates
    no code and queues nothing.

    Writing the token, the user and the mail still takes longer than the
    empty commit (milliseconds, measurable over many requests), so every
    branch that queues nothing waits as long as a recent queuing one took
    (see :mod:`~kingdom.services.identity.pacing`).
    """
    secret = secrets.new_secret()
    token_hash = hash_secret(secret)
    now = clock.now()
    expires_at = now + reset_token_ttl
    async with uow:
        user = await _recipient(uow, command.email, now, reset_mail_interval)
        if user is not None:
            token = ResetToken(
                id=ids.new_id(),
                user_id=user.id,
                token_hash=token_hash,
                expires_at=expires_at,
                issued_at=now,
            )
            await uow.reset_tokens.add(token)
            meta = MessageMeta(message_id=ids.new_id(), occurred_at=now)
            user.request_password_reset(token.id, expires_at, meta)
            uow.outgoing_mail.add(
                OutgoingMail(
                    id=meta.message_id,  # how the worker handling the event finds it
                    recipient=user.email,
                    subject=RESET_SUBJECT,
                    body=reset_mail_body(secret, expires_at),
                    created_at=now,
                    # The code is worthless after this: no reason to keep or send it.
                    expires_at=expires_at,
                )
            )
        # Committed either way: an empty commit costs the same round trip.
        await uow.commit()
    if user is not None:
        reset_pacing.record(clock.now() - now)
    else:
        await reset_pacing.pad(clock.now() - now)


async def _recipient(
    uow: UnitOfWork, email: str, now: datetime, interval: timedelta
) -> User | None:
    """Who gets a new code: a known, active user not mailed one within ``interval``; else None."""
    user = await find_user_by_email(uow, email)
    if user is None or not user.is_active:
        return None  # a disabled user could not log in with a new password anyway
    latest = await uow.reset_tokens.latest_for_user(user.id)
    # Paced until the interval is over or the last code expired, whichever is
    # first: a short-lived code must not leave its user without one for long.
    if latest is not None and now < min(latest.issued_at + interval, latest.expires_at):
        return None
    return user


async def reset_password(
    command: ResetPassword,
    uow: UnitOfWork,
    hasher: PasswordHasher,
    clock: Clock,
    ids: IdGenerator,
) -> None:
    """Redeem a reset secret for a new password; every token, session and code becomes void.

    The user's sessions are all revoked (whoever asked for the reset may
    not be the one logged in), every other reset code of the user is voided
    (an older mail must not set the password again) and ``token_version`` is
    bumped, in the same transaction as the new password (:func:`replace_password`).

    Single use holds under concurrency too: two redemptions of one secret
    both change the same user, so the second commit meets a stale user
    version, and its retry finds the token used.
    """
    ensure_acceptable_password(command.new_password)
    async with uow:
        token = await uow.reset_tokens.find_by_hash(hash_secret(command.token))
        if token is None:
            raise InvalidResetToken()
        try:
            token.redeem(clock.now())
        except Invalid:
            raise InvalidResetToken() from None
        user = await uow.users.find(token.user_id)
        if user is None or not user.is_active:
            raise InvalidResetToken()
        await replace_password(
            uow, user, await hasher.hash(command.new_password), clock=clock, ids=ids
        )
        await uow.commit()
