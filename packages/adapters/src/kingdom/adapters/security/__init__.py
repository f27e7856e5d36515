"""Security adapters: argon2 password hashing, signed JWT access tokens, random secrets.

Nothing here reads the environment or a clock of its own: parameters, keys
and the clock are handed in by the composition root.
"""

from kingdom.adapters.security.passwords import Argon2PasswordHasher
from kingdom.adapters.security.secrets import UrlSafeSecrets
from kingdom.adapters.security.token_cache import CachingTokenVerifier, TokenVerifier
from kingdom.adapters.security.tokens import (
    DEFAULT_LEEWAY,
    DEFAULT_LIFETIME,
    Ed25519Key,
    HmacKey,
    JwtTokenIssuer,
    JwtTokenVerifier,
    KeySet,
    RsaKey,
    SigningKey,
    VerifiedToken,
)

__all__ = [
    "DEFAULT_LEEWAY",
    "DEFAULT_LIFETIME",
    "Argon2PasswordHasher",
    "CachingTokenVerifier",
    "Ed25519Key",
    "HmacKey",
    "JwtTokenIssuer",
    "JwtTokenVerifier",
    "KeySet",
    "RsaKey",
    "SigningKey",
    "TokenVerifier",
    "UrlSafeSecrets",
    "VerifiedToken",
]
