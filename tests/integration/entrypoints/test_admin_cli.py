"""The admin command line, in-process, on a configured database (SQLite and PostgreSQL).

Each test starts like the server's first start (migrations, then the
administrator), runs ``kingdom.entrypoints.admin_cli`` with an environment
naming that database, and checks the effect through the application's own
bus and read side: logins, sessions, roles, the outbox.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from kingdom.adapters.migrations import runner
from kingdom.adapters.sql.event_codec import EVENTS
from kingdom.adapters.sql.outbox import outbox
from kingdom.domain.access import ReadScope
from kingdom.domain.identity import (
    Authenticate,
    DetachPolicies,
    PasswordChanged,
    RefreshAccess,
    RegisterUser,
    RoleAssigned,
    RoleRevoked,
    UserDisabled,
    UserRegistered,
    UserStatus,
)
from kingdom.domain.shared import Event, MessageMeta, Unauthenticated
from kingdom.entrypoints import admin_cli, embedded
from kingdom.entrypoints.admin import (
    ADMIN_EMAIL,
    ADMIN_ROLE,
    EVERYTHING,
    ensure_admin,
    ensure_admin_covers_every_resource,
    system_actor,
)
from kingdom.entrypoints.composition import Kingdom, build
from kingdom.entrypoints.settings import Settings
from kingdom.services.identity.sessions import IssuedSession
from kingdom.services.meta import new_meta
from kingdom.services.ports import UserView
from kingdom.services.resources import AUDIT

ADMIN_PASSWORD = "first admin password"
NEW_PASSWORD = "a brand new password"


@dataclass(frozen=True)
class Ran:
    status: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


@dataclass
class Installation:
    """A prepared database, its environment, and the application to observe it with."""

    environ: dict[str, str]
    kingdom: Kingdom

    async def cli(self, *argv: str, stdin: str = "") -> Ran:
        out, err = io.StringIO(), io.StringIO()
        status = await admin_cli.execute(
            list(argv), self.environ, stdin=io.StringIO(stdin), stdout=out, stderr=err
        )
        return Ran(status, out.getvalue(), err.getvalue())

    async def login(self, email: str, password: str) -> IssuedSession:
        session: IssuedSession = await self.kingdom.bus.handle(
            Authenticate(meta=self.meta(), email=email, password=password)
        )
        return session

    async def register(self, email: str, password: str = "registered password") -> str:
        user_id: str = await self.kingdom.bus.handle(
            RegisterUser(meta=self.meta(), email=email, display_name="Someone", password=password)
        )
        return user_id

    async def user(self, user_id: str) -> UserView:
        found = await self.kingdom.services.users.by_ids(ReadScope.everything(), [user_id])
        return found[user_id]

    async def events_of(self, user_id: str) -> list[Event]:
        async with self.kingdom.database.engine.connect() as connection:
            rows = await connection.execute(
                select(outbox.c.event_type, outbox.c.schema_version, outbox.c.payload)
                .where(outbox.c.aggregate_id == user_id)
                .order_by(outbox.c.position)
            )
            return [EVENTS.decode(row[0], row[1], row[2]) for row in rows]

    def meta(self) -> MessageMeta:
        return new_meta(self.kingdom.services.clock, self.kingdom.services.ids)


def _environ(database_url: str, data_dir: Path) -> dict[str, str]:
    return {"KINGDOM_DATABASE_URL": database_url, "KINGDOM_DATA_DIR": str(data_dir)}


@pytest.fixture()
async def installation(database_url: str, tmp_path: Path) -> AsyncIterator[Installation]:
    """What a server's first start leaves: a migrated database with the administrator."""
    environ = _environ(database_url, tmp_path / "data")
    settings = Settings.from_environ(environ)
    if not settings.embedded:
        await runner.upgrade(database_url)  # an operator migrates a server database
    await embedded.prepare(settings)
    kingdom = build(settings)
    try:
        assert await ensure_admin(kingdom, ADMIN_PASSWORD) is not None
        yield Installation(environ, kingdom)
    finally:
        await kingdom.database.dispose()


def _one_line(ran: Ran) -> str:
    """The error message, insisting it is one line and no traceback."""
    assert ran.out == ""
    assert "Traceback" not in ran.err
    lines = ran.err.splitlines()
    assert len(lines) == 1, ran.err
    assert lines[0].startswith("kingdom admin: ")
    return lines[0]


# set-password: the lost administrator password


async def test_set_password_recovers_the_admin_and_revokes_its_sessions(
    installation: Installation,
) -> None:
    before = await installation.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert await installation.kingdom.services.authenticate(before.token)

    ran = await installation.cli(
        "set-password", ADMIN_EMAIL, "--password-stdin", stdin=NEW_PASSWORD + "\n"
    )

    assert (ran.status, ran.out) == (0, "")
    assert f"set the password of {ADMIN_EMAIL}; its sessions and access tokens are revoked" in (
        ran.err
    )
    after = await installation.login(ADMIN_EMAIL, NEW_PASSWORD)
    assert await installation.kingdom.services.authenticate(after.token)
    with pytest.raises(Unauthenticated):
        await installation.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    with pytest.raises(Unauthenticated):  # the access token from before
        await installation.kingdom.services.authenticate(before.token)
    with pytest.raises(Unauthenticated):  # and the session it belonged to
        await installation.kingdom.bus.handle(
            RefreshAccess(meta=installation.meta(), refresh_token=before.refresh_token)
        )


async def test_set_password_without_stdin_generates_one_and_prints_it_once(
    installation: Installation,
) -> None:
    ran = await installation.cli("set-password", "Admin@Kingdom.Local")

    assert ran.status == 0
    (password,) = ran.lines
    assert len(password) >= 20
    assert "shown once" in ran.err
    assert password not in ran.err
    await installation.login(ADMIN_EMAIL, password)


async def test_set_password_goes_through_the_bus_into_the_outbox(
    installation: Installation,
) -> None:
    user_id = await installation.register("dora@example.org")

    assert (await installation.cli("set-password", "dora@example.org")).status == 0

    assert [type(event) for event in await installation.events_of(user_id)] == [
        UserRegistered,
        PasswordChanged,
    ]


BAD_PASSWORDS = {
    "short\n": "a password must have 8 to 1024 characters",
    "": "standard input holds no password",
    "\n": "standard input holds no password",
    "first line\nsecond line\n": "expected one line on standard input",
}


async def test_set_password_refuses_a_bad_password_changing_nothing(
    installation: Installation,
) -> None:
    for stdin, problem in BAD_PASSWORDS.items():
        ran = await installation.cli("set-password", ADMIN_EMAIL, "--password-stdin", stdin=stdin)

        assert ran.status == 2, stdin
        assert problem in _one_line(ran)
    await installation.login(ADMIN_EMAIL, ADMIN_PASSWORD)


async def test_set_password_of_an_unknown_address_is_not_found(
    installation: Installation,
) -> None:
    ran = await installation.cli("set-password", "nobody@example.org")

    assert ran.status == 1
    assert _one_line(ran) == "kingdom admin: no user with e-mail nobody@example.org"


# create-user


async def test_create_user_with_a_password_from_stdin_and_roles(
    installation: Installation,
) -> None:
    ran = await installation.cli(
        "create-user",
        "Carol@Example.org",
        "--name",
        "Carol",
        "--password-stdin",
        "--role",
        ADMIN_ROLE,
        stdin=NEW_PASSWORD + "\n",
    )

    assert ran.status == 0, ran.err
    (user_id,) = ran.lines
    carol = await installation.user(user_id)
    assert (carol.email, carol.display_name, carol.status) == (
        "carol@example.org",
        "Carol",
        UserStatus.ACTIVE,
    )
    assert ADMIN_ROLE in carol.role_codes
    session = await installation.login("carol@example.org", NEW_PASSWORD)
    assert (await installation.kingdom.services.authenticate(session.token)).user_id == user_id
    assert [type(event) for event in await installation.events_of(user_id)] == [
        UserRegistered,
        RoleAssigned,
    ]


async def test_create_user_without_stdin_prints_the_id_then_a_generated_password(
    installation: Installation,
) -> None:
    ran = await installation.cli("create-user", "erin@example.org", "--name", "Erin")

    assert ran.status == 0, ran.err
    user_id, password = ran.lines
    assert "shown once" in ran.err
    session = await installation.login("erin@example.org", password)
    assert (await installation.kingdom.services.authenticate(session.token)).user_id == user_id


async def test_create_user_refuses_a_taken_address(installation: Installation) -> None:
    ran = await installation.cli("create-user", ADMIN_EMAIL, "--name", "Impostor")

    assert ran.status == 1
    assert _one_line(ran) == f"kingdom admin: a user with e-mail {ADMIN_EMAIL} already exists"
    await installation.login(ADMIN_EMAIL, ADMIN_PASSWORD)  # untouched


async def test_create_user_with_an_unknown_role_creates_nothing(
    installation: Installation,
) -> None:
    ran = await installation.cli(
        "create-user", "fred@example.org", "--name", "Fred", "--role", "nope"
    )

    assert ran.status == 1
    assert _one_line(ran) == "kingdom admin: role 'nope' does not exist"
    listed = await installation.cli("list-users")
    assert "fred@example.org" not in listed.out


BAD_CREATIONS = {
    ("gina@example.org",): "create-user: the following arguments are required: --name",
    ("--name", "Gina"): "the following arguments are required: EMAIL",
    ("not-an-address", "--name", "Gina"): "an e-mail address needs exactly one '@'",
    ("gina@example.org", "--name", " "): "a display name must have",
    ("gina@example.org", "--name", "Gina", "--bogus"): "unrecognized arguments: --bogus",
}


async def test_create_user_with_bad_arguments_is_a_usage_error(
    installation: Installation,
) -> None:
    for argv, problem in BAD_CREATIONS.items():
        ran = await installation.cli("create-user", *argv)

        assert ran.status == 2, argv
        assert problem in _one_line(ran)
    assert "gina@example.org" not in (await installation.cli("list-users")).out


# grant-role, revoke-role, disable


async def test_grant_and_revoke_a_role(installation: Installation) -> None:
    user_id = await installation.register("hal@example.org")

    granted = await installation.cli("grant-role", "hal@example.org", ADMIN_ROLE)
    assert (granted.status, granted.out) == (0, "")
    assert ADMIN_ROLE in (await installation.user(user_id)).role_codes
    again = await installation.cli("grant-role", "hal@example.org", ADMIN_ROLE)
    assert again.status == 1
    assert _one_line(again) == f"kingdom admin: hal@example.org already has role {ADMIN_ROLE!r}"

    revoked = await installation.cli("revoke-role", "hal@example.org", ADMIN_ROLE)
    assert revoked.status == 0
    assert ADMIN_ROLE not in (await installation.user(user_id)).role_codes
    again = await installation.cli("revoke-role", "hal@example.org", ADMIN_ROLE)
    assert again.status == 1
    assert "does not have role" in _one_line(again)

    kinds = [type(event) for event in await installation.events_of(user_id)]
    assert kinds[-2:] == [RoleAssigned, RoleRevoked]


@pytest.mark.parametrize("command", ["grant-role", "revoke-role"])
async def test_role_commands_name_what_is_missing(installation: Installation, command: str) -> None:
    unknown_user = await installation.cli(command, "nobody@example.org", ADMIN_ROLE)
    assert unknown_user.status == 1
    assert _one_line(unknown_user) == "kingdom admin: no user with e-mail nobody@example.org"

    missing_role = await installation.cli(command, ADMIN_EMAIL)
    assert missing_role.status == 2
    assert "the following arguments are required: ROLE" in _one_line(missing_role)


async def test_granting_an_unknown_role_is_not_found(installation: Installation) -> None:
    ran = await installation.cli("grant-role", ADMIN_EMAIL, "nope")

    assert ran.status == 1
    assert _one_line(ran) == "kingdom admin: role 'nope' does not exist"


async def test_disable_ends_the_users_access(installation: Installation) -> None:
    user_id = await installation.register("ivy@example.org", "ivy's password")
    session = await installation.login("ivy@example.org", "ivy's password")

    ran = await installation.cli("disable", "ivy@example.org")

    assert (ran.status, ran.out) == (0, "")
    assert (await installation.user(user_id)).status is UserStatus.DISABLED
    with pytest.raises(Unauthenticated):
        await installation.login("ivy@example.org", "ivy's password")
    with pytest.raises(Unauthenticated):
        await installation.kingdom.services.authenticate(session.token)
    assert type((await installation.events_of(user_id))[-1]) is UserDisabled

    again = await installation.cli("disable", "ivy@example.org")
    assert again.status == 1
    assert _one_line(again) == "kingdom admin: ivy@example.org is already disabled"


# list-users


async def test_list_users_prints_a_table_sorted_by_email(installation: Installation) -> None:
    jack = await installation.register("jack@example.org")
    await installation.cli("disable", "jack@example.org")

    ran = await installation.cli("list-users")

    assert (ran.status, ran.err) == (0, "")
    header, *rows = ran.lines
    assert header.split() == ["ID", "EMAIL", "STATUS", "ROLES"]
    assert [row.split()[1:] for row in rows] == [
        [ADMIN_EMAIL, "active", ADMIN_ROLE],
        ["jack@example.org", "disabled", "-"],
    ]
    assert rows[1].split()[0] == jack
    # Aligned columns: every e-mail starts where the header's does.
    assert {row.index(row.split()[1]) for row in rows} == {header.index("EMAIL")}


async def test_list_users_first_n(installation: Installation) -> None:
    await installation.register("kim@example.org")

    ran = await installation.cli("list-users", "--first", "1")

    assert ran.status == 0
    assert [row.split()[1] for row in ran.lines[1:]] == [ADMIN_EMAIL]
    assert "more exist" in ran.err
    for bad in ("0", "x"):
        refused = await installation.cli("list-users", "--first", bad)
        assert refused.status == 2
        assert "argument --first" in _one_line(refused)


# the database


async def test_an_unprepared_database_is_refused_without_creating_anything(
    database_url: str, tmp_path: Path
) -> None:
    """A wrong data directory must not become a new empty database (SQLite), and
    a server database must be migrated first (PostgreSQL)."""
    data_dir = tmp_path / "elsewhere"
    out, err = io.StringIO(), io.StringIO()

    status = await admin_cli.execute(
        ["list-users"], _environ(database_url, data_dir), stdout=out, stderr=err
    )

    assert (status, out.getvalue()) == (1, "")
    message = _one_line(Ran(status, "", err.getvalue()))
    if database_url.startswith("sqlite"):
        assert "no database at" in message
        assert "start the server once" in message
        assert not data_dir.exists()
    else:
        assert "migrate -- upgrade head" in message


def test_usage_errors_and_bad_settings_exit_2_before_touching_any_database(
    tmp_path: Path,
) -> None:
    environ = {"KINGDOM_DATA_DIR": str(tmp_path / "data")}
    cases = {
        (): "the following arguments are required: COMMAND",
        ("frobnicate",): "invalid choice: 'frobnicate'",
        ("disable",): "disable: the following arguments are required: EMAIL",
    }
    for argv, problem in cases.items():
        err = io.StringIO()
        assert admin_cli.run(list(argv), environ, stdout=io.StringIO(), stderr=err) == 2
        assert problem in _one_line(Ran(2, "", err.getvalue()))
    err = io.StringIO()
    bad_setting = {**environ, "KINGDOM_DATABASE_URL": "mysql://nope"}
    assert admin_cli.run(["list-users"], bad_setting, stderr=err) == 2
    assert "invalid setting KINGDOM_DATABASE_URL" in _one_line(Ran(2, "", err.getvalue()))
    assert not (tmp_path / "data").exists()


# the administrators' role across releases


async def test_an_admin_role_from_before_a_resource_existed_gets_it_at_start(
    installation: Installation,
) -> None:
    kingdom = installation.kingdom
    assert await ensure_admin_covers_every_resource(kingdom) == ()  # a new role has all
    # As a release before the audit trail left it: every resource but "audit".
    await kingdom.bus.handle(
        DetachPolicies(
            meta=installation.meta(),
            actor=system_actor(),
            subject="role",
            subject_id=ADMIN_ROLE,
            policies=tuple(p for p in EVERYTHING if p.resource == AUDIT),
        )
    )

    assert await ensure_admin_covers_every_resource(kingdom) == (AUDIT,)

    roles = await kingdom.services.roles.by_ids(ReadScope.everything(), [ADMIN_ROLE])
    assert set(EVERYTHING) <= set(roles[ADMIN_ROLE].policies)
    assert await ensure_admin_covers_every_resource(kingdom) == ()
