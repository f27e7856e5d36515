"""``./pants run packages/entrypoints:admin -- COMMAND``: administer users from a shell.

Commands: ``create-user EMAIL --name NAME [--password-stdin] [--role CODE ...]``,
``set-password EMAIL [--password-stdin]``, ``grant-role EMAIL ROLE``,
``revoke-role EMAIL ROLE``, ``disable EMAIL``, ``list-users [--first N]``.

It works on the configured database (``KINGDOM_*``, read through the same
:class:`Settings` as the server) and builds the application the same way the
server does: the embedded SQLite file is migrated first, a PostgreSQL
database must already be at head. Every change is a command on the message
bus, sent by the system actor of :mod:`kingdom.entrypoints.admin` (no user,
every policy), so the outbox records it and every rule applies: a new
password must be acceptable and revokes the user's sessions and tokens, a
role is granted only if it exists, and so on.

``set-password admin@kingdom.local`` is the recovery of a lost administrator
password. A password is read from standard input with ``--password-stdin``
(one line; a trailing newline is dropped), otherwise generated and printed
once.

Standard output carries the results only (a new user's id, a generated
password, the user table), so scripts can capture them; notes and errors go
to standard error, one line each. Exit status: 0 done, 1 not found or
refused (unknown user or role, the address is taken, the role is already
held, no database, database not migrated or unreachable), 2 bad input (bad
arguments, setting, e-mail address, name or password). A user error never
prints a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, TextIO

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from kingdom.adapters.migrations import runner
from kingdom.adapters.migrations.runner import MigrationError
from kingdom.adapters.sql.unit_of_work import SqlUnitOfWork
from kingdom.domain.access import ReadScope
from kingdom.domain.identity import (
    AssignRole,
    ChangePassword,
    DisableUser,
    RegisterUser,
    RevokeRole,
    User,
    clean_name,
    normalise_email,
)
from kingdom.domain.shared import Command, Conflict, DomainError, Invalid, MessageMeta, NotFound
from kingdom.entrypoints import embedded
from kingdom.entrypoints.admin import generate_password, system_actor
from kingdom.entrypoints.composition import Kingdom, build
from kingdom.entrypoints.settings import Settings, SettingsError
from kingdom.services.identity.password_rules import ensure_acceptable_password
from kingdom.services.meta import new_meta
from kingdom.services.ports import MAX_PAGE_SIZE, PageRequest, UserView

OK, FAILED, BAD_INPUT = 0, 1, 2
PROG = "kingdom admin"


class _BadInput(Exception):
    """Wrong arguments or input: exit status 2 with this one-line message."""


class _Failed(Exception):
    """The command cannot be done (no database, not migrated): exit status 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line naming the problem (and the subcommand), not argparse's usage block.
        raise _BadInput(
            f"{self.prog.removeprefix(PROG).strip() or 'usage'}: {message} (see --help)"
        )


def _count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, not {number}")
    return number


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Administer Kingdom's users on $KINGDOM_DATABASE_URL (default: the "
        "embedded SQLite file in $KINGDOM_DATA_DIR, ./.kingdom). Exit status: 0 done, "
        "1 not found or refused, 2 bad input.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    stdin_help = "read the password from standard input (else one is generated and printed)"

    create = commands.add_parser("create-user", help="create a user; prints its id")
    create.add_argument("email", metavar="EMAIL")
    create.add_argument("--name", required=True, metavar="NAME", help="the display name")
    create.add_argument("--password-stdin", action="store_true", help=stdin_help)
    create.add_argument(
        "--role",
        action="append",
        default=[],
        metavar="CODE",
        dest="roles",
        help="grant this role too (repeatable)",
    )

    password = commands.add_parser(
        "set-password",
        help="set a user's password, revoking its sessions (lost admin password: "
        "set-password admin@kingdom.local)",
    )
    password.add_argument("email", metavar="EMAIL")
    password.add_argument("--password-stdin", action="store_true", help=stdin_help)

    for name, verb in (
        ("grant-role", "give a user a role"),
        ("revoke-role", "take a role from a user"),
    ):
        role = commands.add_parser(name, help=verb)
        role.add_argument("email", metavar="EMAIL")
        role.add_argument("role", metavar="ROLE")

    disable = commands.add_parser("disable", help="disable a user and revoke its sessions")
    disable.add_argument("email", metavar="EMAIL")

    listing = commands.add_parser("list-users", help="print id, email, status and roles")
    listing.add_argument(
        "--first", type=_count, default=None, metavar="N", help="only the first N (by email)"
    )
    return parser


@dataclass(frozen=True)
class Console:
    stdin: TextIO
    stdout: TextIO
    stderr: TextIO

    def result(self, line: str) -> None:
        print(line, file=self.stdout)

    def note(self, line: str) -> None:
        print(f"{PROG}: {line}", file=self.stderr)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    sys.exit(run(sys.argv[1:] if argv is None else argv, os.environ))


def run(
    argv: Sequence[str],
    environ: Mapping[str, str],
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run one command; returns the exit status (see the module docstring)."""
    return asyncio.run(execute(argv, environ, stdin=stdin, stdout=stdout, stderr=stderr))


async def execute(
    argv: Sequence[str],
    environ: Mapping[str, str],
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """:func:`run` for a caller already inside an event loop."""
    console = Console(stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr)
    try:
        arguments, settings = _arguments(argv, environ, console)
    except SystemExit as done:  # --help
        return done.code if isinstance(done.code, int) else OK
    except _BadInput as error:
        console.note(str(error))
        return BAD_INPUT
    try:
        kingdom = await _open(settings)
        try:
            return await COMMANDS[arguments.command](_Admin(kingdom, console), arguments)
        finally:
            await kingdom.database.dispose()
    except (Invalid, _BadInput) as error:
        console.note(str(error))
        return BAD_INPUT
    except (DomainError, _Failed) as error:
        console.note(str(error))
        return FAILED
    except (MigrationError, SQLAlchemyError, OSError) as error:
        shown = make_url(settings.database_url).render_as_string(hide_password=True)
        console.note(f"database {shown} failed: {_first_line(error)}")
        return FAILED


def _arguments(
    argv: Sequence[str], environ: Mapping[str, str], console: Console
) -> tuple[argparse.Namespace, Settings]:
    """Parse and check everything that needs no database (bad input: :class:`_BadInput`)."""
    arguments = _parser().parse_args(argv)
    try:
        settings = Settings.from_environ(environ)
        arguments.email = normalise_email(arguments.email) if "email" in arguments else None
        if arguments.command == "create-user":
            arguments.name = clean_name(arguments.name, "display name")
            arguments.roles = list(dict.fromkeys(arguments.roles))
        arguments.password = None
        if getattr(arguments, "password_stdin", False):
            arguments.password = _read_password(console)
            ensure_acceptable_password(arguments.password)
    except SettingsError as error:
        raise _BadInput(f"invalid setting {error}") from None
    except Invalid as error:
        raise _BadInput(error.message) from None
    return arguments, settings


def _read_password(console: Console) -> str:
    """One line from standard input (prompted for, unechoed, on a terminal)."""
    if console.stdin.isatty():
        return getpass.getpass("new password: ", stream=console.stderr)
    text = console.stdin.read()
    password = text.removesuffix("\n").removesuffix("\r")
    if not password:
        raise _BadInput("--password-stdin: standard input holds no password")
    if "\n" in password or "\r" in password:
        raise _BadInput("--password-stdin: expected one line on standard input, got several")
    return password


async def _open(settings: Settings) -> Kingdom:
    """The application as the server builds it, on a database that is ready.

    The embedded SQLite file must exist (a typo in the data directory must
    not quietly make an empty database) and is migrated like on start; a
    server database must already be migrated (an operator does that).
    """
    url = make_url(settings.database_url)
    if settings.embedded:
        database = url.database or ""
        in_memory = database in ("", ":memory:") or database.startswith("file:")
        if not in_memory and not Path(database).exists():
            raise _Failed(
                f"no database at {Path(database).resolve()}: start the server once, "
                "or set KINGDOM_DATA_DIR / KINGDOM_DATABASE_URL to where yours is"
            )
    else:
        current, heads = await runner.current(settings.database_url), runner.heads()
        if set(current) != set(heads):
            shown = url.render_as_string(hide_password=True)
            raise _Failed(
                f"database {shown} is at {', '.join(current) or 'no revision'}, not at "
                f"{', '.join(heads)}: run `./pants run packages/entrypoints:migrate -- "
                "upgrade head` first"
            )
    await embedded.prepare(settings)
    try:
        return build(settings)
    except ValueError as error:  # a broken key file, as the server would report
        raise _Failed(str(error)) from None


@dataclass(frozen=True)
class _Admin:
    kingdom: Kingdom
    console: Console

    def meta(self) -> MessageMeta:
        return new_meta(self.kingdom.services.clock, self.kingdom.services.ids)

    async def find(self, email: str) -> User | None:
        """The user with this (normalised) address, read without changing anything."""
        async with SqlUnitOfWork(self.kingdom.database) as uow:
            return await uow.users.find_by_email(email)

    async def user(self, email: str) -> User:
        found = await self.find(email)
        if found is None:
            raise NotFound(f"no user with e-mail {email}")
        return found

    async def ensure_roles_exist(self, codes: Sequence[str]) -> None:
        async with SqlUnitOfWork(self.kingdom.database) as uow:
            found = {role.code for role in await uow.roles.get_many(codes)}
        for code in codes:
            if code not in found:
                raise NotFound(f"role {code!r} does not exist")

    async def send(self, command: Command, user: User) -> object:
        """Handle ``command`` about ``user``; refusals name the user by e-mail, not id."""
        try:
            return await self.kingdom.bus.handle(command)
        except DomainError as error:
            message = error.message.replace(f"user {user.id!r}", user.email)
            raise (_BadInput if isinstance(error, Invalid) else _Failed)(message) from None


async def create_user(admin: _Admin, arguments: argparse.Namespace) -> int:
    email: str = arguments.email
    # Checked first so nothing is written: registration itself answers a
    # taken address like a new one (it must not tell anonymous callers).
    await admin.ensure_roles_exist(arguments.roles)
    if await admin.find(email) is not None:
        raise Conflict(f"a user with e-mail {email} already exists")
    password = arguments.password or generate_password()
    user_id: str = await admin.kingdom.bus.handle(
        RegisterUser(meta=admin.meta(), email=email, display_name=arguments.name, password=password)
    )
    created = await admin.find(email)
    if created is None or created.id != user_id:  # someone registered it in between
        raise Conflict(f"a user with e-mail {email} already exists")
    for code in arguments.roles:
        await admin.send(
            AssignRole(meta=admin.meta(), actor=system_actor(), user_id=user_id, role_code=code),
            created,
        )
    admin.console.result(user_id)
    roles = f" with role {', '.join(arguments.roles)}" if arguments.roles else ""
    if arguments.password is None:
        admin.console.result(password)
        admin.console.note(
            f"created {email}{roles}; printed its id, then its generated password "
            "(shown once: store it now)"
        )
    else:
        admin.console.note(f"created {email}{roles}; printed its id")
    return OK


async def set_password(admin: _Admin, arguments: argparse.Namespace) -> int:
    user = await admin.user(arguments.email)
    password = arguments.password or generate_password()
    await admin.send(
        ChangePassword(
            meta=admin.meta(), actor=system_actor(), user_id=user.id, new_password=password
        ),
        user,
    )
    revoked = "its sessions and access tokens are revoked"
    if arguments.password is None:
        admin.console.result(password)
        admin.console.note(
            f"set a generated password for {user.email} (printed, shown once: store it now); "
            + revoked
        )
    else:
        admin.console.note(f"set the password of {user.email}; {revoked}")
    return OK


async def _change_role(
    admin: _Admin, arguments: argparse.Namespace, command: type[AssignRole] | type[RevokeRole]
) -> int:
    user = await admin.user(arguments.email)
    await admin.send(
        command(meta=admin.meta(), actor=system_actor(), user_id=user.id, role_code=arguments.role),
        user,
    )
    done = "granted role {!r} to {}" if command is AssignRole else "revoked role {!r} from {}"
    admin.console.note(done.format(arguments.role, user.email))
    return OK


async def grant_role(admin: _Admin, arguments: argparse.Namespace) -> int:
    return await _change_role(admin, arguments, AssignRole)


async def revoke_role(admin: _Admin, arguments: argparse.Namespace) -> int:
    return await _change_role(admin, arguments, RevokeRole)


async def disable(admin: _Admin, arguments: argparse.Namespace) -> int:
    user = await admin.user(arguments.email)
    await admin.send(DisableUser(meta=admin.meta(), actor=system_actor(), user_id=user.id), user)
    admin.console.note(f"disabled {user.email}; its sessions and access tokens are revoked")
    return OK


async def list_users(admin: _Admin, arguments: argparse.Namespace) -> int:
    wanted: int | None = arguments.first
    users: list[UserView] = []
    cursor: str | None = None
    more = True
    while more and (wanted is None or len(users) < wanted):
        size = MAX_PAGE_SIZE if wanted is None else min(MAX_PAGE_SIZE, wanted - len(users))
        page = await admin.kingdom.services.users.list(
            ReadScope.everything(), PageRequest(size, cursor, count_total=False)
        )
        users.extend(page.items)
        cursor, more = page.end_cursor, page.has_next and page.end_cursor is not None
    rows = [("ID", "EMAIL", "STATUS", "ROLES")] + [
        (user.id, user.email, user.status.value, ",".join(user.role_codes) or "-") for user in users
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        admin.console.result("  ".join([*cells, row[3]]))
    if more:
        admin.console.note(f"showing the first {len(users)} users; more exist")
    return OK


COMMANDS: dict[str, Callable[[_Admin, argparse.Namespace], Awaitable[int]]] = {
    "create-user": create_user,
    "set-password": set_password,
    "grant-role": grant_role,
    "revoke-role": revoke_role,
    "disable": disable,
    "list-users": list_users,
}


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


if __name__ == "__main__":
    main()
