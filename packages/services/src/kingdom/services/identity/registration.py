"""Open self-registration, which tells nobody whether an address is registered."""

from __future__ import annotations

from collections.abc import Iterable

from kingdom.domain.access import Policy
from kingdom.domain.identity import RegisterUser, User, clean_name, normalise_email
from kingdom.domain.shared import RateLimited
from kingdom.services.identity.new_users import NEW_USER_POLICIES
from kingdom.services.identity.pacing import REGISTRATION_PACING, LatencyMimic
from kingdom.services.identity.password_rules import ensure_acceptable_password
from kingdom.services.meta import new_meta
from kingdom.services.ports import (
    Clock,
    IdGenerator,
    LoginThrottle,
    PasswordHasher,
    UnitOfWork,
    registration_keys,
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
) -> str:
    """Create an active user; returns an id, the new user's if any.

    The user starts with ``new_user_policies`` (by default, its own accounts
    and its own user: see :mod:`~kingdom.services.identity.new_users`) and
    no roles. Anyone may register, so there is no access check. An address already
    registered gets the same answer as a new one, after the same work: its
    password is hashed all the same, nothing is written, and the id returned
    is freshly drawn and names no user. Otherwise registering would tell
    anyone which addresses have accounts. (The owner of the address is not
    told either, until there is a mail job to do it.)

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
    user = User.register(
        id=ids.new_id(),
        email=command.email,
        display_name=command.display_name,
        password_hash=password_hash,
        meta=new_meta(clock, ids),
        policies=new_user_policies,
    )
    started = clock.now()
    async with uow:
        taken = await uow.users.find_by_email(user.email) is not None
        if not taken:
            await uow.users.add(user)
        # Committed either way: an empty commit costs the same round trip.
        await uow.commit()
    if taken:
        # Writing the user and its event takes longer than the empty commit.
        await registration_pacing.pad(clock.now() - started)
    else:
        registration_pacing.record(clock.now() - started)
    return user.id
