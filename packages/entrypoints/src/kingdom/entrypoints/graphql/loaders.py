"""Per-request batch loaders: every nested lookup of one tick becomes one query.

Resolvers ask for one object at a time (this account's owner, that
transfer's source); a :class:`DataLoader` collects the keys asked for while
the executor walks one level of the result, then fetches them with a single
``by_ids`` call. Loaders live for one request, so their cache never serves
one caller another caller's view, and each is bound to one read scope: what
a loader returns is exactly what that scope allows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Generic, TypeVar

from kingdom.domain.access import ReadScope
from kingdom.services.ports import (
    AccountQueries,
    AccountView,
    RoleQueries,
    RoleView,
    TransferQueries,
    TransferView,
    UserQueries,
    UserView,
)
from kingdom.services.ports.audit import AuditEntry
from kingdom.services.ports.audit_queries import AuditQueries, NoAuditTrail

V = TypeVar("V")

BatchFetch = Callable[[Sequence[str]], Awaitable[Mapping[str, V]]]


class DataLoader(Generic[V]):
    """Loads values by key, batching the keys requested in the same event-loop tick.

    A missing key loads as ``None``. Results are cached for the loader's life
    (one request); a failed batch is not cached, and every caller waiting on
    it gets the error.
    """

    def __init__(self, fetch: BatchFetch[V]) -> None:
        self._fetch = fetch
        self._cache: dict[str, asyncio.Future[V | None]] = {}
        self._values: dict[str, V | None] = {}
        """What :meth:`prefetch` loaded, by key: :meth:`loaded` answers in one lookup."""
        self._queue: list[str] = []
        self._running: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        """The request's loop, asked once: ``asyncio.get_running_loop()`` costs
        a ``getpid`` system call on CPython 3.11, and a page asks per row."""

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop

    def load(self, key: str) -> asyncio.Future[V | None]:
        future = self._cache.get(key)
        if future is None:
            loop = self._running_loop()
            future = self._cache[key] = loop.create_future()
            self._queue.append(key)
            if len(self._queue) == 1:
                # Dispatch once the resolvers already scheduled in this tick
                # have asked for their keys too.
                loop.call_soon(self._dispatch)
        return future

    async def load_many(self, keys: Sequence[str]) -> list[V | None]:
        return list(await asyncio.gather(*(self.load(key) for key in keys)))

    async def prefetch(self, keys: Iterable[str]) -> None:
        """Load ``keys`` now, in one batch, so that :meth:`loaded` finds them.

        For a resolver that knows what its children will ask for (a page's
        owners): they then resolve synchronously, without a future each.
        """
        wanted = [key for key in dict.fromkeys(keys) if key not in self._cache]
        if not wanted:
            return
        found = await self._fetch(wanted)
        loop = self._running_loop()
        for key in wanted:
            if key not in self._cache:  # a concurrent load() may have asked meanwhile
                value = self._values[key] = found.get(key)
                future = self._cache[key] = loop.create_future()
                future.set_result(value)

    def loaded(self, key: str) -> V | None | Awaitable[V | None]:
        """The value if already loaded (``None``: there is none), else what :meth:`load` returns."""
        value = self._values.get(key, _NOT_PREFETCHED)
        if value is not _NOT_PREFETCHED:
            return value  # type: ignore[return-value]  # not the marker: a V or None
        future = self._cache.get(key)
        if (
            future is not None
            and future.done()
            and not future.cancelled()
            and future.exception() is None
        ):
            return future.result()
        return self.load(key)

    def _dispatch(self) -> None:
        keys, self._queue = self._queue, []
        task = asyncio.ensure_future(self._run(keys))
        self._running.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._running.discard)

    async def _run(self, keys: list[str]) -> None:
        futures = [self._cache[key] for key in keys]
        try:
            found = await self._fetch(keys)
        except BaseException as error:
            for key, future in zip(keys, futures, strict=True):
                del self._cache[key]
                if not future.done():
                    future.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        for key, future in zip(keys, futures, strict=True):
            if not future.done():
                future.set_result(found.get(key))


_NOT_PREFETCHED: Final = object()


class Loaders:
    """The loaders of one request: one per kind of object and read scope.

    Made for every request, used by few (a ``{ __typename }`` uses none): one
    dict, filled as loaders are asked for, is all it builds up front.
    """

    __slots__ = ("_users", "_roles", "_accounts", "_transfers", "_audit", "_loaders")

    def __init__(
        self,
        *,
        users: UserQueries,
        roles: RoleQueries,
        accounts: AccountQueries,
        transfers: TransferQueries,
        audit: AuditQueries | None = None,
    ) -> None:
        self._users = users
        self._roles = roles
        self._accounts = accounts
        self._transfers = transfers
        self._audit = audit or NoAuditTrail()
        self._loaders: dict[tuple[str, ReadScope, bool], DataLoader[Any]] = {}

    # Each fetch closes over its query object, never over ``self``: a loader
    # kept in ``self._loaders`` whose fetch held ``self`` would make a cycle,
    # and the request (its rows, its futures) would wait for the collector
    # instead of being freed when it ends.

    def users(self, scope: ReadScope, *, with_roles: bool = True) -> DataLoader[UserView]:
        """Users visible through ``scope``; ``with_roles=False`` leaves role codes out.

        Users loaded without role codes are cached apart from those loaded
        with them, so a field that shows roles never gets a view without.
        """
        users = self._users
        return self._loader(
            ("users", scope, with_roles),
            lambda ids: users.by_ids(scope, ids, with_roles=with_roles),
        )

    def roles(self, scope: ReadScope) -> DataLoader[RoleView]:
        roles = self._roles
        return self._loader(("roles", scope, False), lambda ids: roles.by_ids(scope, ids))

    def accounts(self, scope: ReadScope) -> DataLoader[AccountView]:
        accounts = self._accounts
        return self._loader(("accounts", scope, False), lambda ids: accounts.by_ids(scope, ids))

    def transfers(self, scope: ReadScope) -> DataLoader[TransferView]:
        """Transfers visible through ``scope``, the caller's *accounts* scope."""
        transfers = self._transfers
        return self._loader(("transfers", scope, False), lambda ids: transfers.by_ids(scope, ids))

    def audit_entries(self, scope: ReadScope) -> DataLoader[AuditEntry]:
        """Audit entries by message id, visible through ``scope`` (the *audit* scope)."""
        audit = self._audit
        return self._loader(("audit", scope, False), lambda ids: audit.by_ids(scope, ids))

    def clear(self) -> None:
        """Forget everything loaded: called after each mutation, which may have changed it."""
        self._loaders.clear()

    def _loader(self, key: tuple[str, ReadScope, bool], fetch: BatchFetch[V]) -> DataLoader[V]:
        loader = self._loaders.get(key)
        if loader is None:
            loader = self._loaders[key] = DataLoader(fetch)
        return loader
