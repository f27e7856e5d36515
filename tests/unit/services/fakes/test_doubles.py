from __future__ import annotations

from datetime import timedelta

import pytest

from kingdom.domain.access import Permission, Policy, compile_policies
from kingdom.domain.shared import Invalid
from kingdom.services.fakes import (
    EPOCH,
    FakeClock,
    FakePasswordHasher,
    FakeSecretSource,
    FakeTokenIssuer,
    RecordingMailer,
    SequentialIds,
    actor,
    superuser,
)


async def test_the_fake_hasher_is_one_way_and_verifies_honestly():
    hasher = FakePasswordHasher()
    hashed = await hasher.hash("secret password")

    assert "secret password" not in hashed
    assert await hasher.verify(hashed, "secret password")
    assert not await hasher.verify(hashed, "wrong password")
    assert not await hasher.verify("plain", "plain")


async def test_the_fake_hasher_flags_hashes_of_an_older_scheme():
    hasher = FakePasswordHasher(scheme=1)
    old = await hasher.hash("pw")
    hasher.scheme = 2

    assert hasher.needs_rehash(old)
    assert await hasher.verify(old, "pw")  # old hashes still verify
    assert not hasher.needs_rehash(await hasher.hash("pw"))


async def test_the_fake_hasher_counts_real_and_dummy_verifications_alike():
    hasher = FakePasswordHasher()
    await hasher.verify(await hasher.hash("pw"), "pw")
    await hasher.dummy_verify("pw")

    assert hasher.verifications == 2
    assert hasher.calls["hash"] == 1


def test_the_fake_token_issuer_remembers_claims():
    clock = FakeClock()
    issuer = FakeTokenIssuer(clock, lifetime=timedelta(minutes=5))
    context = compile_policies([Policy.of("users", Permission.READ)])

    issued = issuer.issue("u-1", context, 3)

    assert issued.expires_at == EPOCH + timedelta(minutes=5)
    claims = issuer.claims(issued.token)
    assert claims is not None
    assert (claims.user_id, claims.context, claims.token_version) == ("u-1", context, 3)
    assert issuer.claims("forged") is None
    assert issued.token not in repr(issued)


def test_clock_ids_and_secrets_are_predictable():
    clock = FakeClock()
    clock.advance(timedelta(seconds=5))
    ids = SequentialIds("x")
    secrets = FakeSecretSource()

    assert clock.now() == EPOCH + timedelta(seconds=5)
    assert [ids.new_id(), ids.new_id()] == ["x-0001", "x-0002"]
    assert [secrets.new_secret(), secrets.new_secret()] == ["secret-1", "secret-2"]


async def test_recorders_record_and_can_be_told_to_fail():
    mailer = RecordingMailer()
    await mailer.send("a@example.org", "hi", "body")
    assert mailer.sent[0].to == "a@example.org"

    mailer.failure = Invalid("down")
    with pytest.raises(Invalid):
        await mailer.send("a@example.org", "hi", "body")
    assert len(mailer.sent) == 1


def test_actor_builders():
    nobody = actor(user_id=None)
    assert nobody.is_anonymous
    assert nobody.context == compile_policies([])
    root = superuser()
    assert root.context.permissions_for("accounts") == Permission.ALL
