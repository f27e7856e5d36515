"""Finding a user by a typed-in e-mail address, for the anonymous entry points."""

from __future__ import annotations

from kingdom.domain.identity import User, normalise_email
from kingdom.domain.shared import Invalid
from kingdom.services.ports import UnitOfWork


async def find_user_by_email(uow: UnitOfWork, email: str) -> User | None:
    """The user with this address, or ``None``, also when it is not an address at all.

    Login and password reset must answer "unknown" the same way whatever was
    typed, so a malformed address is just one more address nobody owns.
    """
    try:
        normalised = normalise_email(email)
    except Invalid:
        return None
    return await uow.users.find_by_email(normalised)
