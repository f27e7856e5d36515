"""Honest stand-ins for the security ports: one-way, deterministic, observable."""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from kingdom.domain.access import PolicyContext
from kingdom.services.fakes.system import FakeClock
from kingdom.services.ports import Clock, IssuedToken, PasswordHasher, SecretSource, TokenIssuer


def _digest(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


class FakePasswordHasher(PasswordHasher):
    """``fake$v<scheme>$<sha256>``: one-way like the real thing, but fast and unsalted.

    Raise ``scheme`` to make older hashes "outdated" (``needs_rehash``); every
    call is counted in ``calls`` so tests can assert that two paths did the
    same work.
    """

    def __init__(self, scheme: int = 1) -> None:
        self.scheme = scheme
        self.calls: Counter[str] = Counter()

    async def hash(self, password: str) -> str:
        self.calls["hash"] += 1
        return f"fake$v{self.scheme}${_digest(password)}"

    async def verify(self, password_hash: str, password: str) -> bool:
        self.calls["verify"] += 1
        _, _, digest = password_hash.rpartition("$")
        return password_hash.startswith("fake$v") and hmac.compare_digest(digest, _digest(password))

    def needs_rehash(self, password_hash: str) -> bool:
        self.calls["needs_rehash"] += 1
        return not password_hash.startswith(f"fake$v{self.scheme}$")

    async def dummy_verify(self, password: str) -> None:
        self.calls["dummy_verify"] += 1
        _digest(password)

    @property
    def verifications(self) -> int:
        """Password checks done, real or dummy: equal counts mean equal work."""
        return self.calls["verify"] + self.calls["dummy_verify"]


@dataclass(frozen=True)
class FakeClaims:
    user_id: str
    context: PolicyContext
    token_version: int


class FakeTokenIssuer(TokenIssuer):
    """Issues ``token-<n>`` and remembers what each token stands for (see :meth:`claims`)."""

    def __init__(
        self, clock: Clock | None = None, lifetime: timedelta = timedelta(hours=1)
    ) -> None:
        self.clock = clock or FakeClock()
        self.lifetime = lifetime
        self.issued: dict[str, FakeClaims] = {}

    def issue(self, user_id: str, context: PolicyContext, token_version: int) -> IssuedToken:
        token = f"token-{len(self.issued) + 1}"
        self.issued[token] = FakeClaims(user_id, context, token_version)
        return IssuedToken(token=token, expires_at=self.clock.now() + self.lifetime)

    def claims(self, token: str) -> FakeClaims | None:
        return self.issued.get(token)


class FakeSecretSource(SecretSource):
    """``secret-<n>``: predictable, so a test can redeem what was "mailed"."""

    def __init__(self) -> None:
        self.issued: list[str] = []

    def new_secret(self) -> str:
        secret = f"secret-{len(self.issued) + 1}"
        self.issued.append(secret)
        return secret
