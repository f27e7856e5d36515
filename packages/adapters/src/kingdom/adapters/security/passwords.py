"""Argon2id password hashing (argon2-cffi), run off the event loop."""

from __future__ import annotations

import asyncio
import secrets
from typing import Final

import argon2
from argon2 import Parameters, Type, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import get_default_parameters

from kingdom.services.ports import PasswordHasher

_DEFAULTS: Final = get_default_parameters()
"""argon2-cffi's own defaults (RFC 9106's low-memory profile): the floor for production."""

DEFAULT_TIME_COST: Final = _DEFAULTS.time_cost
DEFAULT_MEMORY_COST: Final = _DEFAULTS.memory_cost
DEFAULT_PARALLELISM: Final = _DEFAULTS.parallelism
DEFAULT_HASH_LEN: Final = _DEFAULTS.hash_len
DEFAULT_SALT_LEN: Final = _DEFAULTS.salt_len


class Argon2PasswordHasher(PasswordHasher):
    """Argon2id through argon2-cffi; the work runs in a thread (``asyncio.to_thread``).

    The constructor refuses parameters below argon2-cffi's defaults, so a
    deployment cannot weaken hashing by accident; :meth:`for_tests` is the one
    way to get cheap (and insecure) hashing.

    ``parallelism`` may be lowered (down to 1) for small machines: it splits
    the same memory and passes into fewer lanes, so the attacker's cost is
    unchanged; for that reason :meth:`needs_rehash` ignores it too.

    Each hash in flight holds ``memory_cost`` KiB; the default thread pool
    bounds how many run at once.
    """

    _argon2: argon2.PasswordHasher
    _parameters: Parameters
    _dummy_hash: str

    def __init__(
        self,
        *,
        time_cost: int = DEFAULT_TIME_COST,
        memory_cost: int = DEFAULT_MEMORY_COST,
        parallelism: int = DEFAULT_PARALLELISM,
        hash_len: int = DEFAULT_HASH_LEN,
        salt_len: int = DEFAULT_SALT_LEN,
    ) -> None:
        floors = {
            "time_cost": (time_cost, DEFAULT_TIME_COST),
            "memory_cost": (memory_cost, DEFAULT_MEMORY_COST),
            "parallelism": (parallelism, 1),
            "hash_len": (hash_len, DEFAULT_HASH_LEN),
            "salt_len": (salt_len, DEFAULT_SALT_LEN),
        }
        for name, (value, floor) in floors.items():
            if value < floor:
                raise ValueError(
                    f"argon2 {name}={value} is below the secure minimum {floor}"
                    " (use Argon2PasswordHasher.for_tests() for fast, insecure tests)"
                )
        self._configure(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            hash_len=hash_len,
            salt_len=salt_len,
        )

    @classmethod
    def for_tests(
        cls, *, time_cost: int = 1, memory_cost: int = 8, parallelism: int = 1
    ) -> Argon2PasswordHasher:
        """INSECURE: a hasher with tiny parameters, only so tests run fast.

        Never use it in a deployment: hashes it makes can be brute-forced
        cheaply. Every parameter may be raised, e.g. to test rehashing.
        """
        hasher = cls.__new__(cls)
        hasher._configure(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            hash_len=DEFAULT_HASH_LEN,
            salt_len=DEFAULT_SALT_LEN,
        )
        return hasher

    def _configure(
        self, *, time_cost: int, memory_cost: int, parallelism: int, hash_len: int, salt_len: int
    ) -> None:
        # argon2-cffi validates the values (types, platform limits) itself.
        self._argon2 = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            hash_len=hash_len,
            salt_len=salt_len,
            type=Type.ID,
        )
        # A real hash of a throwaway password, with the configured cost:
        # dummy_verify checks against it, so it costs what a verify costs.
        self._dummy_hash = self._argon2.hash(secrets.token_urlsafe(16))
        # Read back from a hash argon2-cffi made, so it includes the version.
        self._parameters = extract_parameters(self._dummy_hash)

    @property
    def parameters(self) -> Parameters:
        """The parameters new hashes are made with."""
        return self._parameters

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._argon2.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await asyncio.to_thread(self._verify, password_hash, password)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except (VerificationError, InvalidHashError, UnicodeError):
            # A mismatch, or a hash that is not argon2 at all (malformed,
            # foreign scheme, non-ASCII): either way the password is not proven.
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """True if the hash is weaker than the configured parameters (or unreadable).

        Only ever upgrades: a hash made with *higher* costs than configured is
        left alone, so lowering the settings never weakens stored hashes.
        """
        try:
            stored = extract_parameters(password_hash)
        except InvalidHashError:
            return True
        wanted = self._parameters
        return (
            stored.type is not wanted.type
            or stored.version < wanted.version
            or stored.time_cost < wanted.time_cost
            or stored.memory_cost < wanted.memory_cost
            or stored.hash_len < wanted.hash_len
            or stored.salt_len < wanted.salt_len
        )

    async def dummy_verify(self, password: str) -> None:
        # The same code path as a real verify, against a hash of the same
        # cost; the (always False) answer is thrown away.
        await self.verify(self._dummy_hash, password)
