"""Signed JWT access tokens (PyJWT): the keys, the issuer and the verifier.

A token is a JWS in compact form, signed by the *active* key of a
:class:`KeySet` and naming it in the ``kid`` header. Its claims::

    iss, aud        who made it, for whom (both compared exactly)
    sub             the user id
    iat, nbf, exp   NumericDates; the lifetime is short (15 minutes by default)
    jti             128 random bits, a handle for logs and deny lists
    typ             "access", so no other kind of token passes for one
    pol             the user's PolicyContext.encode(): permissions without a lookup
    tv              the user's token_version when the token was issued

Rotating keys: :meth:`KeySet.rotate` makes a new key the signer and keeps the
old one (*retired*) so tokens it signed stay valid until they expire;
:meth:`KeySet.remove` then drops it. A key's algorithm is fixed by its type
(``HmacKey`` -> HS256, ``Ed25519Key`` -> EdDSA, ``RsaKey`` -> RS256) and the
verifier pins it per ``kid``; the token's own ``alg`` header never chooses.
The public halves of the asymmetric keys form the JWKS document
(:meth:`KeySet.public_jwks`) other services verify tokens with.

Every rejection raises :class:`kingdom.domain.shared.Unauthenticated`.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final, Generic, NoReturn, Self, TypeVar

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.rsa import (
    RSAPrivateKey,
    RSAPublicKey,
    generate_private_key,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)
from jwt.algorithms import HMACAlgorithm
from jwt.utils import base64url_encode, to_base64url_uint

from kingdom.domain.access import PolicyContext
from kingdom.domain.shared import Invalid, Unauthenticated
from kingdom.services.ports import Clock, IssuedToken, TokenIssuer

DEFAULT_LIFETIME: Final = timedelta(minutes=15)
DEFAULT_LEEWAY: Final = timedelta(seconds=30)
MAX_LEEWAY: Final = timedelta(minutes=5)
"""Clock skew tolerated at most; more would quietly extend every token's life."""

MIN_HMAC_SECRET_BYTES: Final = 32
"""HS256 needs a secret at least as long as its 256-bit output (RFC 7518 §3.2)."""

MIN_RSA_BITS: Final = 2048
"""RS256 keys below 2048 bits are refused (RFC 7518 §3.3; NIST SP 800-57)."""

MAX_TOKEN_LENGTH: Final = 16 * 1024
"""Longer strings are refused before any parsing."""

ACCESS: Final = "access"
"""The ``typ`` claim of an access token."""

KID_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""What a key id may look like: no dots, slashes, quotes or spaces to play tricks with."""

_JTI_BYTES: Final = 16  # 128 bits
_REQUIRED_CLAIMS: Final = ("exp", "iat", "nbf", "aud", "iss", "sub", "jti")
# Headers that point at, or carry, key material chosen by whoever made the
# token, and ``crit`` (extensions we would have to understand): never honoured.
_REFUSED_HEADERS: Final = frozenset({"jku", "x5u", "jwk", "x5c", "crit"})

# One PyJWT instance with our options: short HMAC keys are an error, not a warning.
_JWT: Final = jwt.PyJWT(options={"enforce_minimum_key_length": True})


def _valid_kid(kid: object) -> str:
    if not isinstance(kid, str) or not KID_PATTERN.fullmatch(kid):
        raise ValueError(f"a key id must match {KID_PATTERN.pattern}, got {kid!r}")
    return kid


class HmacKey:
    """An HS256 shared secret: signs and verifies, and is never published."""

    algorithm: ClassVar[str] = "HS256"
    __slots__ = ("_secret", "kid")

    kid: str
    _secret: bytes

    def __init__(self, kid: str, secret: bytes) -> None:
        self.kid = _valid_kid(kid)
        if not isinstance(secret, bytes):
            raise TypeError("an HS256 secret must be bytes")
        if len(secret) < MIN_HMAC_SECRET_BYTES:
            raise ValueError(
                f"an HS256 secret needs at least {MIN_HMAC_SECRET_BYTES} bytes, got {len(secret)}"
            )
        try:
            # PyJWT refuses secrets that look like asymmetric keys or JWKs.
            HMACAlgorithm(HMACAlgorithm.SHA256).prepare_key(secret)
        except jwt.InvalidKeyError as error:
            raise ValueError(f"unusable HS256 secret: {error}") from None
        self._secret = secret

    @property
    def can_sign(self) -> bool:
        return True

    @property
    def signing_key(self) -> bytes:
        return self._secret

    @property
    def verifying_key(self) -> bytes:
        return self._secret

    def __repr__(self) -> str:
        return f"HmacKey(kid={self.kid!r}, secret=<{len(self._secret)} bytes>)"


PrivateT = TypeVar("PrivateT", Ed25519PrivateKey, RSAPrivateKey)
PublicT = TypeVar("PublicT", Ed25519PublicKey, RSAPublicKey)


class _KeyPair(Generic[PrivateT, PublicT]):
    """An asymmetric key: a private key signs and verifies, a public one only verifies.

    Subclasses say which cryptography key types they take (``_split``) and how
    the public half looks as a JWK (``_public_members``).
    """

    algorithm: ClassVar[str]
    __slots__ = ("_private_key", "kid", "public_key")

    kid: str
    public_key: PublicT
    _private_key: PrivateT | None

    def __init__(self, kid: str, key: PrivateT | PublicT | str | bytes) -> None:
        """``key`` is a cryptography key object or its PEM text (unencrypted)."""
        self.kid = _valid_kid(kid)
        loaded = _load_pem(key) if isinstance(key, str | bytes) else key
        self._private_key, self.public_key = self._split(kid, loaded)

    @classmethod
    def _split(cls, kid: str, loaded: object) -> tuple[PrivateT | None, PublicT]:
        raise NotImplementedError

    def _public_members(self) -> dict[str, str]:
        raise NotImplementedError

    def public(self) -> Self:
        """This key without its private half: verifies only."""
        return type(self)(self.kid, self.public_key)

    @property
    def can_sign(self) -> bool:
        return self._private_key is not None

    @property
    def signing_key(self) -> PrivateT:
        if self._private_key is None:
            raise ValueError(f"key {self.kid!r} is a public key and cannot sign")
        return self._private_key

    @property
    def verifying_key(self) -> PublicT:
        return self.public_key

    def public_jwk(self) -> dict[str, str]:
        """The public half as a JWK (RFC 7517), ready for a JWKS document."""
        return {**self._public_members(), "kid": self.kid, "alg": self.algorithm, "use": "sig"}

    def __repr__(self) -> str:
        kind = "private" if self.can_sign else "public"
        return f"{type(self).__name__}(kid={self.kid!r}, {kind})"


class Ed25519Key(_KeyPair[Ed25519PrivateKey, Ed25519PublicKey]):
    """An EdDSA (Ed25519) key."""

    algorithm: ClassVar[str] = "EdDSA"
    __slots__ = ()

    @classmethod
    def generate(cls, kid: str) -> Ed25519Key:
        """A fresh private key (from cryptography's CSPRNG)."""
        return cls(kid, Ed25519PrivateKey.generate())

    @classmethod
    def _split(cls, kid: str, loaded: object) -> tuple[Ed25519PrivateKey | None, Ed25519PublicKey]:
        if isinstance(loaded, Ed25519PrivateKey):
            return loaded, loaded.public_key()
        if isinstance(loaded, Ed25519PublicKey):
            return None, loaded
        raise ValueError(f"key {kid!r} is not an Ed25519 key")

    def _public_members(self) -> dict[str, str]:
        # RFC 8037: an octet key pair holding the raw 32-byte public key.
        raw = self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": base64url_encode(raw).decode("ascii")}


class RsaKey(_KeyPair[RSAPrivateKey, RSAPublicKey]):
    """An RS256 (RSASSA-PKCS1-v1_5 with SHA-256) key of at least 2048 bits."""

    algorithm: ClassVar[str] = "RS256"
    __slots__ = ()

    @classmethod
    def generate(cls, kid: str, bits: int = 3072) -> RsaKey:
        """A fresh private key; 3072 bits by default (NIST's choice past 2030)."""
        return cls(kid, generate_private_key(public_exponent=65537, key_size=bits))

    @classmethod
    def _split(cls, kid: str, loaded: object) -> tuple[RSAPrivateKey | None, RSAPublicKey]:
        if isinstance(loaded, RSAPrivateKey):
            private, public = loaded, loaded.public_key()
        elif isinstance(loaded, RSAPublicKey):
            private, public = None, loaded
        else:
            raise ValueError(f"key {kid!r} is not an RSA key")
        if public.key_size < MIN_RSA_BITS:
            raise ValueError(
                f"key {kid!r} has {public.key_size} bits; RS256 needs at least {MIN_RSA_BITS}"
            )
        return private, public

    def _public_members(self) -> dict[str, str]:
        numbers = self.public_key.public_numbers()
        return {
            "kty": "RSA",
            "n": to_base64url_uint(numbers.n).decode("ascii"),
            "e": to_base64url_uint(numbers.e).decode("ascii"),
        }


def _load_pem(pem: str | bytes) -> object:
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        if b"PRIVATE KEY-----" in data:
            return load_pem_private_key(data, password=None)
        return load_pem_public_key(data)
    except (ValueError, TypeError) as error:  # malformed, encrypted, unsupported
        raise ValueError(f"cannot load the PEM key: {error}") from None


SigningKey = HmacKey | Ed25519Key | RsaKey
"""Any key a :class:`KeySet` holds."""


class KeySet:
    """The keys tokens are signed and verified with, by ``kid``; immutable.

    At most one key is *active* (signs new tokens); the others are *retired*
    and only verify. A verify-only set (``active=None``) suits a service that
    checks tokens but never issues them.
    """

    __slots__ = ("_active", "_keys")

    _keys: Mapping[str, SigningKey]
    _active: str | None

    def __init__(self, keys: Iterable[SigningKey], *, active: str | None = None) -> None:
        by_kid: dict[str, SigningKey] = {}
        for key in keys:
            if key.kid in by_kid:
                raise ValueError(f"duplicate key id {key.kid!r}")
            by_kid[key.kid] = key
        if not by_kid:
            raise ValueError("a key set needs at least one key")
        if active is not None:
            if active not in by_kid:
                raise ValueError(f"the active key {active!r} is not in the set")
            if not by_kid[active].can_sign:
                raise ValueError(f"the active key {active!r} cannot sign (public key only)")
        self._keys = by_kid
        self._active = active

    @classmethod
    def single(cls, key: SigningKey) -> KeySet:
        """A set of one key, active if it can sign."""
        return cls([key], active=key.kid if key.can_sign else None)

    @property
    def active(self) -> SigningKey | None:
        return None if self._active is None else self._keys[self._active]

    def get(self, kid: str) -> SigningKey | None:
        return self._keys.get(kid)

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def __iter__(self) -> Iterator[SigningKey]:
        return iter(self._keys.values())

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def rotate(self, key: SigningKey) -> KeySet:
        """A set where ``key`` signs and the previously active key is retired."""
        return KeySet([*self._keys.values(), key], active=key.kid)

    def activate(self, kid: str) -> KeySet:
        return KeySet(self._keys.values(), active=kid)

    def remove(self, kid: str) -> KeySet:
        """A set without ``kid``: tokens it signed stop verifying."""
        if kid not in self._keys:
            raise ValueError(f"no key {kid!r} in the set")
        if kid == self._active:
            raise ValueError(f"cannot remove the active key {kid!r}; rotate first")
        return KeySet((k for k in self._keys.values() if k.kid != kid), active=self._active)

    def public_jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWKS document (RFC 7517) of the asymmetric keys, active and retired.

        Served at ``/.well-known/jwks.json``. HS256 secrets are never listed:
        they are not public; a set of HS256 keys only gives ``{"keys": []}``.
        """
        return {"keys": [key.public_jwk() for key in self if not isinstance(key, HmacKey)]}

    def __repr__(self) -> str:
        return f"KeySet(kids={self.kids!r}, active={self._active!r})"


def _check_name(what: str, value: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string")
    return value


class JwtTokenIssuer(TokenIssuer):
    """Issues access tokens signed by the active key of ``keys``."""

    def __init__(
        self,
        keys: KeySet,
        *,
        issuer: str,
        audience: str,
        clock: Clock,
        lifetime: timedelta = DEFAULT_LIFETIME,
    ) -> None:
        active = keys.active
        if active is None:
            raise ValueError("the key set has no active key to sign with")
        seconds = lifetime.total_seconds()
        if seconds < 1 or not seconds.is_integer():
            raise ValueError(
                f"the token lifetime must be a whole number of seconds >= 1, got {lifetime}"
            )
        self._key: SigningKey = active
        self._issuer = _check_name("issuer", issuer)
        self._audience = _check_name("audience", audience)
        self._clock = clock
        self._lifetime = int(seconds)

    def issue(self, user_id: str, context: PolicyContext, token_version: int) -> IssuedToken:
        if not isinstance(user_id, str) or not user_id:
            raise ValueError("a token needs a non-empty user id")
        if isinstance(token_version, bool) or not isinstance(token_version, int):
            raise TypeError("token_version must be an int")
        now = self._clock.now()
        if now.tzinfo is None:
            raise ValueError("the clock must return timezone-aware datetimes")
        issued_at = math.floor(now.timestamp())
        expires = issued_at + self._lifetime
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": user_id,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": expires,
            "jti": secrets.token_urlsafe(_JTI_BYTES),
            "typ": ACCESS,
            "pol": context.encode(),
            "tv": token_version,
        }
        token = _JWT.encode(
            claims,
            self._key.signing_key,
            algorithm=self._key.algorithm,
            headers={"kid": self._key.kid},
        )
        return IssuedToken(token=token, expires_at=datetime.fromtimestamp(expires, UTC))


@dataclass(frozen=True, kw_only=True)
class VerifiedToken:
    """What a valid access token says. Its ``token_version`` is NOT yet checked (see
    :class:`JwtTokenVerifier`)."""

    user_id: str
    context: PolicyContext
    token_version: int
    expires_at: datetime
    token_id: str


class JwtTokenVerifier:
    """Checks access tokens made by :class:`JwtTokenIssuer` with the same keys, issuer, audience.

    Checked here: the size, the headers (no ``jku``/``x5u``/``jwk``/``x5c``/``crit``),
    the ``kid`` (well-formed and in the key set), the signature with the
    algorithm of that key only, the presence of every registered claim, exact
    ``iss`` and ``aud``, ``exp``/``nbf``/``iat`` against the injected clock with
    ``leeway``, ``typ == "access"``, a well-formed ``tv`` and ``pol``.

    NOT checked here — the caller's duty: that ``VerifiedToken.token_version``
    still equals the user's current ``token_version``. Only the user store knows
    it; a password change or a disabled account bumps it, and a token carrying
    an older version must be refused (as Unauthenticated) by whoever loads the
    user.

    Every failure raises :class:`~kingdom.domain.shared.Unauthenticated`; its
    message says why, for logs, and holds nothing secret.
    """

    def __init__(
        self,
        keys: KeySet,
        *,
        issuer: str,
        audience: str,
        clock: Clock,
        leeway: timedelta = DEFAULT_LEEWAY,
        max_length: int = MAX_TOKEN_LENGTH,
    ) -> None:
        if not timedelta(0) <= leeway <= MAX_LEEWAY:
            raise ValueError(f"the leeway must be between 0 and {MAX_LEEWAY}, got {leeway}")
        self._keys = keys
        self._issuer = _check_name("issuer", issuer)
        self._audience = _check_name("audience", audience)
        self._clock = clock
        self._leeway = leeway.total_seconds()
        self._max_length = max_length

    @property
    def keys(self) -> KeySet:
        return self._keys

    def verify(self, token: str) -> VerifiedToken:
        if not isinstance(token, str) or not token:
            _reject("no token")
        if len(token) > self._max_length:
            _reject("token too long")
        key = self._key_for(token)
        try:
            claims = _JWT.decode(
                token,
                key.verifying_key,
                algorithms=[key.algorithm],  # the key's, never the token's
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require": list(_REQUIRED_CLAIMS),
                    "strict_aud": True,
                    # PyJWT reads the system clock; times are checked below
                    # against the injected one instead.
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as error:
            _reject(str(error), error)
        expires = self._check_times(claims)
        if claims.get("typ") != ACCESS:
            _reject("not an access token")
        user_id = claims["sub"]
        token_id = claims["jti"]
        if not user_id or not token_id:  # PyJWT has checked that both are strings
            _reject("empty subject or token id")
        token_version = claims.get("tv")
        if (
            isinstance(token_version, bool)
            or not isinstance(token_version, int)
            or token_version < 0
        ):
            _reject("malformed token version")
        try:
            context = PolicyContext.decode(claims.get("pol"))
        except Invalid as error:
            _reject(f"malformed policy context: {error.message}", error)
        return VerifiedToken(
            user_id=user_id,
            context=context,
            token_version=token_version,
            expires_at=expires,
            token_id=token_id,
        )

    def _key_for(self, token: str) -> SigningKey:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            _reject(f"malformed header: {error}", error)
        refused = _REFUSED_HEADERS.intersection(header)
        if refused:
            _reject(f"header parameters not accepted: {', '.join(sorted(refused))}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not KID_PATTERN.fullmatch(kid):
            _reject("missing or malformed key id")
        key = self._keys.get(kid)
        if key is None:
            _reject("unknown key id")
        return key

    def _check_times(self, claims: Mapping[str, Any]) -> datetime:
        """Check exp/nbf/iat against the injected clock (PyJWT's semantics); return exp."""
        expires, not_before, issued_at = (
            _numeric_date(claims, name) for name in ("exp", "nbf", "iat")
        )
        now = self._clock.now().timestamp()
        if expires <= now - self._leeway:
            _reject("token expired")
        if not_before > now + self._leeway:
            _reject("token not yet valid (nbf)")
        if issued_at > now + self._leeway:
            _reject("token issued in the future (iat)")
        try:
            return datetime.fromtimestamp(expires, UTC)
        except (OverflowError, OSError, ValueError) as error:
            _reject("expiry out of range", error)


def _numeric_date(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        _reject(f"malformed {name} claim")
    try:
        seconds = float(value)
    except OverflowError as error:  # an int beyond any float
        _reject(f"{name} claim out of range", error)
    if not math.isfinite(seconds):
        _reject(f"{name} claim out of range")
    return seconds


def _reject(reason: str, cause: BaseException | None = None) -> NoReturn:
    raise Unauthenticated(f"invalid access token: {reason}") from cause
