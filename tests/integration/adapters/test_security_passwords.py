"""Argon2PasswordHasher against the real argon2-cffi (no database needed)."""

from __future__ import annotations

import threading

import argon2
import pytest
from argon2 import Type, extract_parameters
from argon2.profiles import get_default_parameters

from kingdom.adapters.security import Argon2PasswordHasher
from kingdom.adapters.security.passwords import (
    DEFAULT_HASH_LEN,
    DEFAULT_MEMORY_COST,
    DEFAULT_SALT_LEN,
    DEFAULT_TIME_COST,
)
from kingdom.services.ports import PasswordHasher

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def hasher() -> Argon2PasswordHasher:
    return Argon2PasswordHasher.for_tests()


@pytest.fixture()
def argon2_verify_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Spy on argon2-cffi's verify: (hash verified against, thread it ran on) per call."""
    calls: list[tuple[str, int]] = []
    original = argon2.PasswordHasher.verify

    def spy(self: argon2.PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
        calls.append((str(hash), threading.get_ident()))
        return original(self, hash, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", spy)
    return calls


def test_it_implements_the_port() -> None:
    assert isinstance(Argon2PasswordHasher.for_tests(), PasswordHasher)


async def test_a_hash_verifies_its_password(hasher: Argon2PasswordHasher) -> None:
    password_hash = await hasher.hash(PASSWORD)
    assert password_hash.startswith("$argon2id$")
    assert PASSWORD not in password_hash
    assert await hasher.verify(password_hash, PASSWORD) is True


async def test_hashes_are_salted(hasher: Argon2PasswordHasher) -> None:
    first, second = await hasher.hash(PASSWORD), await hasher.hash(PASSWORD)
    assert first != second
    assert await hasher.verify(first, PASSWORD)
    assert await hasher.verify(second, PASSWORD)


@pytest.mark.parametrize(
    "wrong", ["", "correct horse battery stapl", PASSWORD.upper(), PASSWORD + " "]
)
async def test_a_wrong_password_is_false(hasher: Argon2PasswordHasher, wrong: str) -> None:
    assert await hasher.verify(await hasher.hash(PASSWORD), wrong) is False


async def test_unicode_passwords_round_trip(hasher: Argon2PasswordHasher) -> None:
    password = "pässwörd 🔑 пароль"
    password_hash = await hasher.hash(password)
    assert await hasher.verify(password_hash, password)
    assert not await hasher.verify(password_hash, "passwoerd 🔑 пароль")


@pytest.mark.parametrize(
    "malformed",
    [
        "",
        "not a hash",
        "$argon2id$",
        "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ",  # no digest
        "$argon2id$v=19$m=8,t=1,p=1$!!!!$!!!!",
        "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0$ñññ",  # non-ASCII
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",  # bcrypt
        "pbkdf2_sha256$600000$salt$hash",  # another framework's format
        "fake$v1$" + "0" * 64,  # the services' fake hasher
    ],
)
async def test_a_malformed_or_foreign_hash_is_false_not_an_error(
    hasher: Argon2PasswordHasher, malformed: str
) -> None:
    assert await hasher.verify(malformed, PASSWORD) is False


async def test_a_tampered_hash_is_false(hasher: Argon2PasswordHasher) -> None:
    password_hash = await hasher.hash(PASSWORD)
    prefix, digest = password_hash.rsplit("$", 1)
    flipped = ("B" if digest[0] == "A" else "A") + digest[1:]
    assert await hasher.verify(f"{prefix}${flipped}", PASSWORD) is False


async def test_other_argon2_variants_still_verify(hasher: Argon2PasswordHasher) -> None:
    legacy = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.I)
    assert await hasher.verify(legacy.hash(PASSWORD), PASSWORD)


async def test_hashing_and_verifying_run_off_the_event_loop(
    hasher: Argon2PasswordHasher,
    monkeypatch: pytest.MonkeyPatch,
    argon2_verify_calls: list[tuple[str, int]],
) -> None:
    hash_threads: list[int] = []
    original_hash = argon2.PasswordHasher.hash

    def spy_hash(self: argon2.PasswordHasher, password: str | bytes, **kwargs: bytes | None) -> str:
        hash_threads.append(threading.get_ident())
        return original_hash(self, password, **kwargs)

    monkeypatch.setattr(argon2.PasswordHasher, "hash", spy_hash)
    loop_thread = threading.get_ident()

    await hasher.verify(await hasher.hash(PASSWORD), PASSWORD)
    await hasher.dummy_verify(PASSWORD)

    assert len(hash_threads) == 1
    assert hash_threads[0] != loop_thread
    assert len(argon2_verify_calls) == 2
    assert all(thread != loop_thread for _, thread in argon2_verify_calls)


# -- needs_rehash -------------------------------------------------------------------


async def test_a_hash_with_the_current_parameters_needs_no_rehash(
    hasher: Argon2PasswordHasher,
) -> None:
    assert hasher.needs_rehash(await hasher.hash(PASSWORD)) is False


@pytest.mark.parametrize(
    "raised",
    [{"time_cost": 2}, {"memory_cost": 16}, {"time_cost": 2, "memory_cost": 16}],
)
async def test_raising_the_parameters_makes_older_hashes_need_a_rehash(
    raised: dict[str, int],
) -> None:
    old = await Argon2PasswordHasher.for_tests().hash(PASSWORD)
    stronger = Argon2PasswordHasher.for_tests(**raised)
    assert stronger.needs_rehash(old) is True
    new = await stronger.hash(PASSWORD)
    assert stronger.needs_rehash(new) is False
    assert await stronger.verify(old, PASSWORD), "the old hash still verifies until replaced"


async def test_hashes_stronger_than_configured_are_left_alone() -> None:
    strong = await Argon2PasswordHasher.for_tests(time_cost=2, memory_cost=16).hash(PASSWORD)
    assert Argon2PasswordHasher.for_tests().needs_rehash(strong) is False


def test_other_variants_and_unreadable_hashes_need_a_rehash(
    hasher: Argon2PasswordHasher,
) -> None:
    argon2i = argon2.PasswordHasher(time_cost=4, memory_cost=64, parallelism=1, type=Type.I)
    assert hasher.needs_rehash(argon2i.hash(PASSWORD)) is True
    assert hasher.needs_rehash("not a hash") is True
    assert hasher.needs_rehash("$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW")


# -- dummy_verify -------------------------------------------------------------------


async def test_dummy_verify_does_a_real_verification_at_the_configured_cost(
    argon2_verify_calls: list[tuple[str, int]],
) -> None:
    hasher = Argon2PasswordHasher.for_tests(time_cost=2, memory_cost=16)
    await hasher.dummy_verify(PASSWORD)
    await hasher.dummy_verify("")

    assert len(argon2_verify_calls) == 2
    for dummy_hash, _ in argon2_verify_calls:
        # argon2-cffi really ran, against a hash as costly as a real user's.
        assert extract_parameters(dummy_hash) == hasher.parameters
        assert extract_parameters(dummy_hash) == extract_parameters(await hasher.hash(PASSWORD))


async def test_dummy_verify_and_verify_do_the_same_work(
    hasher: Argon2PasswordHasher, argon2_verify_calls: list[tuple[str, int]]
) -> None:
    stored = await hasher.hash(PASSWORD)
    await hasher.verify(stored, "wrong password")
    await hasher.dummy_verify("wrong password")
    (real, _), (dummy, _) = argon2_verify_calls
    assert extract_parameters(real) == extract_parameters(dummy)


# -- parameters ----------------------------------------------------------------------


def test_the_default_hasher_is_argon2id_at_argon2_cffis_defaults() -> None:
    parameters = Argon2PasswordHasher().parameters
    defaults = get_default_parameters()
    assert parameters.type is Type.ID
    assert parameters.time_cost == defaults.time_cost == DEFAULT_TIME_COST
    assert parameters.memory_cost == defaults.memory_cost == DEFAULT_MEMORY_COST
    assert parameters.parallelism == defaults.parallelism
    assert parameters.hash_len == defaults.hash_len == DEFAULT_HASH_LEN
    assert parameters.salt_len == defaults.salt_len == DEFAULT_SALT_LEN


@pytest.mark.parametrize(
    "weaker",
    [
        {"time_cost": DEFAULT_TIME_COST - 1},
        {"memory_cost": DEFAULT_MEMORY_COST // 2},
        {"hash_len": DEFAULT_HASH_LEN - 1},
        {"salt_len": DEFAULT_SALT_LEN - 1},
        {"parallelism": 0},
    ],
)
def test_the_constructor_refuses_parameters_below_the_defaults(weaker: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="for_tests"):
        Argon2PasswordHasher(**weaker)


def test_stronger_parameters_are_accepted() -> None:
    hasher = Argon2PasswordHasher(time_cost=DEFAULT_TIME_COST + 1, parallelism=1)
    assert hasher.parameters.time_cost == DEFAULT_TIME_COST + 1
    assert hasher.parameters.parallelism == 1


def test_only_for_tests_allows_cheap_parameters() -> None:
    cheap = Argon2PasswordHasher.for_tests()
    assert cheap.parameters.time_cost < DEFAULT_TIME_COST
    assert cheap.parameters.memory_cost < DEFAULT_MEMORY_COST
    assert "INSECURE" in (Argon2PasswordHasher.for_tests.__doc__ or "")


# -- no truncation ---------------------------------------------------------------------


@pytest.mark.parametrize("length", [101, 1024])
async def test_long_passwords_are_not_truncated(hasher: Argon2PasswordHasher, length: int) -> None:
    """bcrypt silently ignores everything after byte 72; argon2 hashes every byte.

    Two passwords equal in their first 100 bytes (and beyond bcrypt's 72)
    and different only after that must not verify for each other.
    """
    password = "p" * (length - 1) + "a"
    other = "p" * (length - 1) + "b"
    assert password[:100] == other[:100]
    assert len(password.encode()) == length

    stored = await hasher.hash(password)

    assert await hasher.verify(stored, password)
    assert not await hasher.verify(stored, other)
    assert not await hasher.verify(stored, password[:72])
