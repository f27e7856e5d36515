"""Open self-registration, which tells nobody but the address's owner whether it is registered.

Either way the address gets one mail, sent by the workers after the commit
(see :mod:`kingdom.services.mail`): a new user a welcome, under the
:class:`~kingdom.domain.identity.UserRegistered` event's message id; the
owner of a taken address a notice that someone tried, under the message id
of a :class:`~kingdom.domain.identity.RegistrationAttemptedOnTakenAddress`
event. Only the owner of the address reads either, so neither tells the one
who registered anything the answer did not.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Final

from kingdom.domain.access import Policy
from kingdom.domain.identity import RegisterUser, User, clean_name, normalise_email
from kingdom.domain.shared import MessageMeta, RateLimited
from kingdom.services.identity.new_users import NEW_USER_POLICIES
from kingdom.services.identity.pacing import REGISTRATION_PACING, LatencyMimic
from kingdom.services.identity.password_rules import ensure_acceptable_password
from kingdom.services.meta import new_meta
from kingdom.services.ports import (
    Clock,
    IdGenerator,
    LoginThrottle,
    OutgoingMail,
    PasswordHasher,
    UnitOfWork,
    registration_email_key,
    registration_keys,
)

REGISTRATION_NOTICE_INTERVAL: Final = timedelta(minutes=5)
"""No taken-address notice if the address was registered (or tried) this recently."""
REGISTRATION_MAIL_TTL: Final = timedelta(days=1)
"""A welcome or a notice the workers could not send within a day is dropped unsent."""
WELCOME_SUBJECT: Final = "Welcome to Kingdom"
TAKEN_ADDRESS_SUBJECT: Final = "Someone tried to register with your address"

# Neither text carries anything the registration supplied (the display name,
# the password): whoever registers someone else's address must not get to
# write into that person's mailbox. Lines stay within 78 characters, so the
# mail goes as plain 7-bit text.
WELCOME_BODY: Final = (
    "An account was created at Kingdom for this e-mail address.\n\n"
    "If you did not ask for it, reset its password to take the account over.\n"
)
TAKEN_ADDRESS_BODY: Final = (
    "Someone tried to register a new Kingdom account with this e-mail address,\n"
    "which already has one. Nothing was changed.\n\n"
    "If it was you, log in, or reset your password if you forgot it.\n"
    "Otherwise, ignore this mail.\n"
)


async def register_user(
    command: RegisterUser,
    uow: UnitOfWork,
    hasher: PasswordHasher,
    clock: Clock,
    ids: IdGenerator,
    throttle: LoginThrottle,
    registration_pacing: LatencyMimic = REGISTRATION_PACING,
    new_user_policies: Iterable[Policy] = NEW_USER_POLICIES,
    registration_notice_interval: timedelta = REGISTRATION_NOTICE_INTERVAL,
) -> str:
    """Create an active user; returns an id, the new user's if any.

    The user starts with ``new_user_policies`` (by default, its own accounts
    and its own user: see :mod:`~kingdom.services.identity.new_users`) and
    no roles. Anyone may register, so there is no access check. The new user's
    address gets a welcome mail, staged with the user (no secret in it).

    An address already registered gets the same answer as a new one, after
    the same work: its password is hashed all the same, no user is written,
    and the id returned is freshly drawn and names no user. Otherwise
    registering would tell anyone which addresses have accounts. Its owner
    (if active) is told instead, by mail: the handler commits a
    :class:`~kingdom.domain.identity.RegistrationAttemptedOnTakenAddress`
    event and the notice under its message id, one outgoing mail and one
    event, as a new address commits a user, its event and the welcome.

    Someone registering a victim's address over and over must not fill the
    victim's mailbox: a taken address gets no notice if it was registered,
    or an attempt made, within ``registration_notice_interval`` before (so
    at most one notice per interval, and none right after the welcome).
    Every valid attempt counts on the throttle's ``register-email:<address>``
    key, a taken address's as a new one's: in the database, shared by every
    process, forgotten after the throttle's quiet window (so the interval is
    at most that long). The branches that write less (a taken address: no
    user, and maybe no mail) wait as long as a recent new registration took.

    Every attempt counts against the client address's registration
    throttle (each costs a password hash); a blocked address is refused
    (:class:`RateLimited`) before any hashing. Counted outside the unit of
    work, like failed logins (see
    :func:`~kingdom.services.identity.authentication.authenticate`).
    """
    keys = registration_keys(command.client_address)
    if keys:
        wait = await throttle.check(keys, clock.now())
        if wait is not None:
            raise RateLimited(wait)
        # An attempt, not a failure: the throttle's counters count whatever they are given.
        await throttle.record_failure(keys, clock.now())
    # Refuse bad input before the slow hash: the checks User.register makes,
    # which answer the same for a new and a taken address.
    normalise_email(command.email)
    clean_name(command.display_name, "display name")
    ensure_acceptable_password(command.password)
    # Hash before the transaction opens: it is the slow part, and holding a
    # transaction (and its locks) while it runs helps nobody.
    password_hash = await hasher.hash(command.password)
    # Made whether or not the address is taken, so both answers carry a fresh id.
    # Its event's message id names whichever event this commits: the new
    # user's UserRegistered, or else the attempt on the taken address.
    meta = new_meta(clock, ids)
    user = User.register(
        id=ids.new_id(),
        email=command.email,
        display_name=command.display_name,
        password_hash=password_hash,
        meta=meta,
        policies=new_user_policies,
    )
    # Read and counted for a new and a taken address alike (it depends on the
    # input only), and before the transaction: a handler's commit may be held
    # until it returns (idempotency keys), and on SQLite the throttle's own
    # write would then wait for that transaction. A retry after a conflict is
    # paced by its first try, then: it mails nothing, as the address was just
    # registered by someone.
    email_key = registration_email_key(user.email)
    last_registered = await throttle.last_counted(email_key, clock.now())
    # An attempt, not a failure: the throttle's counters count whatever they are given.
    await throttle.record_failure([email_key], clock.now())
    started = clock.now()
    notice_due = (
        last_registered is None or started >= last_registered + registration_notice_interval
    )
    async with uow:
        owner = await uow.users.find_by_email(user.email)
        mail: OutgoingMail | None = None
        if owner is None:
            await uow.users.add(user)
            mail = _mail(user.email, WELCOME_SUBJECT, WELCOME_BODY, meta)
        elif notice_due and owner.is_active:  # a disabled user could not log in anyway
            owner.report_registration_attempt(meta)
            mail = _mail(owner.email, TAKEN_ADDRESS_SUBJECT, TAKEN_ADDRESS_BODY, meta)
        if mail is not None:
            uow.outgoing_mail.add(mail)
        # Committed either way: an empty commit costs the same round trip.
        await uow.commit()
    if owner is None:
        registration_pacing.record(clock.now() - started)
    else:
        # Writing the user, its event and its mail takes longer than an
        # event and a mail, or than the empty commit.
        await registration_pacing.pad(clock.now() - started)
    return user.id


def _mail(recipient: str, subject: str, body: str, meta: MessageMeta) -> OutgoingMail:
    return OutgoingMail(
        id=meta.message_id,  # how the worker handling the event finds it
        recipient=recipient,
        subject=subject,
        body=body,
        created_at=meta.occurred_at,
        expires_at=meta.occurred_at + REGISTRATION_MAIL_TTL,
    )
