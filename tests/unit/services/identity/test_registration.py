from __future__ import annotations

import copy
from datetime import timedelta

import pytest

from kingdom.domain.access import AccessDenied, Actor, Permission, ReadScope, authorize
from kingdom.domain.identity import (
    RegisterUser,
    RegistrationAttemptedOnTakenAddress,
    User,
    UserRegistered,
    UserStatus,
)
from kingdom.domain.shared import Event, Invalid, RateLimited
from kingdom.services.fakes import FakeApp, FakeLoginThrottle
from kingdom.services.fakes.repositories import state
from kingdom.services.identity.new_users import NEW_USER_POLICIES
from kingdom.services.identity.pacing import LatencyMimic
from kingdom.services.identity.registration import (
    REGISTRATION_MAIL_TTL,
    REGISTRATION_NOTICE_INTERVAL,
    TAKEN_ADDRESS_SUBJECT,
    WELCOME_SUBJECT,
)
from kingdom.services.ports import (
    ConcurrencyConflict,
    OutgoingMail,
    ThrottlePolicy,
    address_key,
    registration_email_key,
    registration_key,
)
from kingdom.services.retry import NO_RETRY


class Sleeps:
    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


async def test_registering_creates_an_active_user_with_a_hashed_password():
    app = FakeApp()

    user_id = await app.register(" Ann@Example.org ", "correct horse", "Ann")

    user = app.store.users[user_id]
    assert (user.email, user.display_name, user.status) == ("ann@example.org", "Ann", "active")
    assert user.status is UserStatus.ACTIVE
    assert await app.hasher.verify(user.password_hash, "correct horse")
    assert "correct horse" not in user.password_hash
    assert (user.role_codes, user.policies) == (set(), set(NEW_USER_POLICIES))
    [event] = app.store.outbox
    assert isinstance(event, UserRegistered)
    assert (event.user_id, event.email) == (user_id, "ann@example.org")
    assert set(event.policies) == set(NEW_USER_POLICIES)


async def test_new_users_start_with_their_own_accounts_and_their_own_user():
    app = FakeApp()
    ann = await app.register("ann@example.org")
    bob = await app.register("bob@example.org")
    context = app.tokens.claims((await app.login("ann@example.org")).token).context  # type: ignore[union-attr]
    me = Actor(ann, context)

    assert authorize(context, "accounts", Permission.CREATE, caller=ann, owner=ann) is True
    assert authorize(context, "accounts", Permission.UPDATE, "a1", caller=ann, owner=ann) is True
    assert authorize(context, "users", Permission.READ, caller=ann) == ReadScope.owned_by(ann)
    with pytest.raises(AccessDenied):
        authorize(context, "accounts", Permission.CREATE, caller=ann, owner=bob)
    with pytest.raises(AccessDenied):
        authorize(context, "accounts", Permission.UPDATE, "a1", caller=ann, owner=bob)
    with pytest.raises(AccessDenied):
        authorize(context, "users", Permission.DELETE, ann, caller=ann, owner=ann)
    assert authorize(context, "roles", Permission.READ, caller=me.user_id).denied


async def test_the_defaults_are_a_dependency_an_operator_can_empty():
    app = FakeApp(settings={"new_user_policies": ()})
    ann = await app.register("ann@example.org")
    assert app.store.users[ann].policies == set()


async def test_a_taken_address_gets_the_same_answer_and_no_user_is_written():
    app = FakeApp()
    ann = await app.register("ann@example.org")
    stored = copy.deepcopy(app.store.users[ann])
    hashes = app.hasher.calls["hash"]
    app.clock.advance(REGISTRATION_NOTICE_INTERVAL)

    again = await app.register("ANN@example.org", "another password", "Mallory")

    assert isinstance(again, str)
    assert again != ann
    assert again not in app.store.users  # the id names nobody
    assert list(app.store.users) == [ann]
    assert state(app.store.users[ann]) == state(stored)  # password, name, version unchanged
    assert app.hasher.calls["hash"] == hashes + 1  # the same work as a new address
    await app.login("ann@example.org", "correct horse")


# The mail each registration stages: a welcome, or a notice to the taken address's owner.

PASSWORD, NAME = "a password to keep", "Mallory <https://evil.example>"


def staged(app: FakeApp, event: Event) -> OutgoingMail:
    """The mail queued under ``event``'s message id (as the worker finds it)."""
    return app.store.outgoing_mail[event.message_id]


def assert_nothing_secret(mail: OutgoingMail) -> None:
    # No secret, and nothing whoever registered chose: they must not write into the mailbox.
    for supplied in (PASSWORD, NAME, "fake$"):
        assert supplied not in mail.body
        assert supplied not in mail.subject
    # Short plain text: short lines, so it goes as 7-bit text, readable as stored.
    assert mail.body.isascii()
    assert max(len(line) for line in mail.body.splitlines()) <= 78
    assert len(mail.body.splitlines()) <= 6


async def test_a_new_user_gets_a_welcome_mail_under_its_registration_event():
    app = FakeApp()

    ann = await app.register(" Ann@Example.org ", PASSWORD, NAME)

    [event] = app.store.outbox
    assert isinstance(event, UserRegistered)
    [queued] = app.store.outgoing_mail.values()
    assert queued == staged(app, event)
    assert (queued.recipient, queued.subject) == ("ann@example.org", WELCOME_SUBJECT)
    assert "account was created" in queued.body
    assert "If you did not ask for it" in queued.body
    assert ann not in queued.body
    assert_nothing_secret(queued)
    assert queued.expires_at == app.clock.now() + REGISTRATION_MAIL_TTL
    assert app.mailer.sent == []  # the request mails nothing itself

    await app.deliver_events()

    [mail] = app.mailer.sent
    assert (mail.to, mail.subject, mail.body) == (queued.recipient, queued.subject, queued.body)
    assert app.store.outgoing_mail == {}


async def test_the_owner_of_a_taken_address_gets_a_notice_under_an_attempt_event():
    app = FakeApp()
    ann = await app.register("ann@example.org")
    await app.deliver_events()
    app.mailer.sent.clear()
    app.clock.advance(REGISTRATION_NOTICE_INTERVAL)

    await app.register("ANN@example.org", PASSWORD, NAME)

    event = app.store.outbox[-1]
    assert isinstance(event, RegistrationAttemptedOnTakenAddress)
    assert event.user_id == ann
    assert event.occurred_at == app.clock.now()
    for supplied in ("ann@example.org", PASSWORD, NAME):
        assert supplied not in repr(event)  # only the owner's id
    [queued] = app.store.outgoing_mail.values()
    assert queued == staged(app, event)
    assert (queued.recipient, queued.subject) == ("ann@example.org", TAKEN_ADDRESS_SUBJECT)
    assert "tried to register" in queued.body
    assert "log in, or reset your password" in queued.body
    assert "ignore this mail" in queued.body
    assert_nothing_secret(queued)

    await app.deliver_events()

    [mail] = app.mailer.sent
    assert (mail.to, mail.subject) == ("ann@example.org", TAKEN_ADDRESS_SUBJECT)
    assert app.store.outgoing_mail == {}


async def test_a_new_and_a_taken_address_each_stage_one_mail_and_one_event_in_one_commit():
    app = FakeApp()
    await app.register("ann@example.org")
    app.clock.advance(REGISTRATION_NOTICE_INTERVAL)
    written = {}

    for kind, email in (("new", "bob@example.org"), ("taken", "ann@example.org")):
        events, mails, commits = (
            len(app.store.outbox),
            len(app.store.outgoing_mail),
            app.store.commits,
        )
        hashes, ids = app.hasher.calls["hash"], app.ids.count
        await app.register(email, PASSWORD, NAME)
        written[kind] = (
            len(app.store.outbox) - events,
            len(app.store.outgoing_mail) - mails,
            app.store.commits - commits,
            app.hasher.calls["hash"] - hashes,
            app.ids.count - ids,
        )

    # events, mails, commits, hashes: one each; and as many ids drawn.
    assert written["new"] == written["taken"]
    assert written["new"][:4] == (1, 1, 1, 1)
    [welcome, notice] = list(app.store.outgoing_mail.values())[1:]
    assert (welcome.recipient, welcome.subject) == ("bob@example.org", WELCOME_SUBJECT)
    assert (notice.recipient, notice.subject) == ("ann@example.org", TAKEN_ADDRESS_SUBJECT)


def notified(app: FakeApp) -> list[str]:
    """Whose address got a taken-address notice, in order."""
    return [
        e.user_id for e in app.store.outbox if isinstance(e, RegistrationAttemptedOnTakenAddress)
    ]


async def test_notices_are_paced_per_address_and_every_attempt_answers_the_same():
    app = FakeApp()
    ann = await app.register("ann@example.org")
    bob = await app.register("bob@example.org")

    await app.register("ann@example.org")  # right after registering it: no notice
    assert notified(app) == []
    app.clock.advance(REGISTRATION_NOTICE_INTERVAL)
    for _ in range(10):  # one mail for ten attempts within the interval
        answer = await app.register("Ann@example.org", PASSWORD, NAME)
        assert isinstance(answer, str)
        assert answer not in app.store.users
        app.clock.advance(timedelta(seconds=29))
    await app.register("bob@example.org")  # another address is not held up by Ann's
    assert notified(app) == [ann, bob]

    app.clock.advance(REGISTRATION_NOTICE_INTERVAL)
    await app.register("ann@example.org")

    assert notified(app) == [ann, bob, ann]
    await app.deliver_events()
    assert [(m.to, m.subject) for m in app.mailer.sent] == [
        ("ann@example.org", WELCOME_SUBJECT),
        ("bob@example.org", WELCOME_SUBJECT),
        ("ann@example.org", TAKEN_ADDRESS_SUBJECT),
        ("bob@example.org", TAKEN_ADDRESS_SUBJECT),
        ("ann@example.org", TAKEN_ADDRESS_SUBJECT),
    ]


async def test_the_notice_interval_is_injectable_and_counted_on_the_shared_throttle():
    app = FakeApp(settings={"registration_notice_interval": timedelta(minutes=1)})
    ann = await app.register("ann@example.org")
    app.clock.advance(timedelta(seconds=59))
    await app.register("ann@example.org")  # within a minute of the registration
    assert notified(app) == []

    app.clock.advance(timedelta(minutes=1))  # a minute after that attempt
    await app.register("ann@example.org")

    assert notified(app) == [ann]
    counter = app.throttle.counters[registration_email_key("ann@example.org")]
    assert (counter.failures, counter.last_failure_at, counter.blocked_until) == (
        3,  # every registration of the address, taken or not
        app.clock.now(),
        None,  # counted, never blocking
    )


async def test_a_disabled_owner_gets_no_notice():
    app = FakeApp()
    ann = await app.register("ann@example.org")
    app.store.users[ann].status = UserStatus.DISABLED
    app.clock.advance(REGISTRATION_NOTICE_INTERVAL)
    events, mails = len(app.store.outbox), len(app.store.outgoing_mail)

    assert await app.register("ann@example.org") not in app.store.users

    assert (len(app.store.outbox), len(app.store.outgoing_mail)) == (events, mails)


async def test_nothing_is_mailed_when_the_commit_fails_yet_the_attempt_counts():
    app = FakeApp(retry=NO_RETRY)
    ann = await app.register("ann@example.org")
    await app.deliver_events()
    app.clock.advance(REGISTRATION_NOTICE_INTERVAL)
    app.store.conflicts_to_raise = 1

    with pytest.raises(ConcurrencyConflict):
        await app.register("ann@example.org")
    assert notified(app) == []
    assert app.store.outgoing_mail == {}

    await app.register("ann@example.org")  # right after: paced by the failed attempt
    assert notified(app) == []
    app.clock.advance(REGISTRATION_NOTICE_INTERVAL)
    await app.register("ann@example.org")
    assert notified(app) == [ann]


async def test_a_taken_address_waits_as_long_as_a_new_one_takes():
    sleeps = Sleeps()
    pacing = LatencyMimic(sleep=sleeps, initial=timedelta(milliseconds=6))
    app = FakeApp(settings={"registration_pacing": pacing})
    app.store.put(
        User(id="ann", email="ann@example.org", display_name="Ann", password_hash="fake$v1$0")
    )

    await app.register("ann@example.org")  # taken, nothing measured yet: the initial estimate
    assert sleeps.seconds == [0.006]
    await app.register("bob@example.org")  # new: measured (no time on the fake clock), no wait
    await app.register("ann@example.org")  # taken: waits what bob's took

    assert sleeps.seconds == [0.006]
    assert pacing.target() == timedelta(0)


async def test_bad_input_is_refused_alike_for_taken_and_new_addresses():
    app = FakeApp()
    await app.register("ann@example.org")

    for email in ("ann@example.org", "new@example.org"):
        with pytest.raises(Invalid, match="display name"):
            await app.register(email, display_name="   ")
    assert app.hasher.calls["hash"] == 1  # refused before hashing


# Throttled per client address.

ADDRESS = "198.51.100.4"


async def register_from(app: FakeApp, email: str, address: str | None = ADDRESS) -> str:
    user_id: str = await app.bus.handle(
        RegisterUser(
            meta=app.meta(),
            email=email,
            display_name="Someone",
            password="correct horse",
            client_address=address,
        )
    )
    return user_id


async def test_every_registration_counts_and_too_many_are_rate_limited_before_hashing():
    app = FakeApp(throttle=FakeLoginThrottle(ThrottlePolicy(register_free_attempts=3)))
    await register_from(app, "ann@example.org")
    await register_from(app, "ann@example.org")  # taken: counted all the same
    await register_from(app, "bob@example.org")
    await register_from(app, "cid@example.org")  # the fourth: blocked for 1 s after it
    hashes = app.hasher.calls["hash"]

    with pytest.raises(RateLimited) as raised:
        await register_from(app, "dan@example.org")

    assert raised.value.retry_after_seconds == 1
    assert app.hasher.calls["hash"] == hashes
    assert app.throttle.failures(registration_key(ADDRESS)) == 4  # refusals do not count
    assert app.throttle.failures(address_key(ADDRESS)) == 0  # logins have their own key
    app.clock.advance(timedelta(seconds=1))
    await register_from(app, "dan@example.org")


async def test_registrations_from_elsewhere_or_from_no_known_address_are_not_held_up():
    app = FakeApp(throttle=FakeLoginThrottle(ThrottlePolicy(register_free_attempts=0)))
    await register_from(app, "ann@example.org")  # blocks this address for 1 s

    await register_from(app, "bob@example.org", "203.0.113.9")
    await register_from(app, "cid@example.org", None)

    with pytest.raises(RateLimited):
        await register_from(app, "dan@example.org")
    assert {key for key in app.throttle.counters if key.startswith("register:")} == {
        registration_key(ADDRESS),
        registration_key("203.0.113.9"),
    }


@pytest.mark.parametrize(
    ("email", "password", "name"),
    [
        ("not an address", "correct horse", "Ann"),
        ("ann@example.org", "short", "Ann"),
        ("ann@example.org", "x" * 1025, "Ann"),
        ("ann@example.org", "correct horse", "   "),
    ],
)
async def test_invalid_input_registers_nobody(email, password, name):
    app = FakeApp()
    with pytest.raises(Invalid):
        await app.bus.handle(
            RegisterUser(meta=app.meta(), email=email, password=password, display_name=name)
        )
    assert app.store.users == {}
    assert app.store.outbox == []
    assert app.store.outgoing_mail == {}
