"""Logging in: e-mail and password in, a signed token with the user's permissions out."""

from __future__ import annotations

from typing import Final

from kingdom.domain.access import compile_policies
from kingdom.domain.identity import Authenticate
from kingdom.domain.shared import Unauthenticated
from kingdom.services.identity.lookup import find_user_by_email
from kingdom.services.ports import IssuedToken, PasswordHasher, TokenIssuer, UnitOfWork

BAD_CREDENTIALS: Final = "wrong e-mail address or password"


async def authenticate(
    command: Authenticate,
    uow: UnitOfWork,
    hasher: PasswordHasher,
    tokens: TokenIssuer,
) -> IssuedToken:
    """Check the credentials and issue a token carrying the effective policy context.

    An unknown address and a wrong password give the same error after the
    same work (one password verification, real or dummy), so neither the
    answer nor its timing tells an attacker which addresses are registered.
    The disabled check comes after the password check for the same reason.
    """
    async with uow:
        user = await find_user_by_email(uow, command.email)
        if user is None:
            await hasher.dummy_verify(command.password)
            raise Unauthenticated(BAD_CREDENTIALS)
        if not await hasher.verify(user.password_hash, command.password):
            raise Unauthenticated(BAD_CREDENTIALS)
        user.ensure_can_authenticate()
        roles = await uow.roles.get_many(user.role_codes)
        context = compile_policies(user.effective_policies(roles))
        if hasher.needs_rehash(user.password_hash):
            # Only now is the plain password at hand to upgrade an outdated hash.
            user.rehash_password(await hasher.hash(command.password))
            await uow.commit()
    # Issued after the commit, so a conflict on the rehash yields no token.
    return tokens.issue(user.id, context, user.token_version)
