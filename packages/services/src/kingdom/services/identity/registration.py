"""Open self-registration."""

from __future__ import annotations

from kingdom.domain.identity import RegisterUser, User, normalise_email
from kingdom.domain.shared import Conflict
from kingdom.services.identity.password_rules import ensure_acceptable_password
from kingdom.services.meta import new_meta
from kingdom.services.ports import Clock, IdGenerator, PasswordHasher, UnitOfWork


async def register_user(
    command: RegisterUser,
    uow: UnitOfWork,
    hasher: PasswordHasher,
    clock: Clock,
    ids: IdGenerator,
) -> str:
    """Create an active user with no permissions; returns the new user's id.

    Anyone may register, so there is no access check. A registered address is
    refused with a Conflict: hiding it would not hide anything, since the
    would-be owner could simply try to log in.
    """
    email = normalise_email(command.email)
    ensure_acceptable_password(command.password)
    # Hash before the transaction opens: it is the slow part, and holding a
    # transaction (and its locks) while it runs helps nobody.
    password_hash = await hasher.hash(command.password)
    async with uow:
        if await uow.users.find_by_email(email) is not None:
            raise Conflict("this e-mail address is already registered")
        user = User.register(
            id=ids.new_id(),
            email=email,
            display_name=command.display_name,
            password_hash=password_hash,
            meta=new_meta(clock, ids),
        )
        await uow.users.add(user)
        await uow.commit()
    return user.id
