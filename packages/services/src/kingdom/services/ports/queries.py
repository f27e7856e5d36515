"""Read-side ports: paginated, access-scoped listings for the API.

Reads bypass the aggregates (no unit of work, no events): they return flat
view records straight from storage. Every listing takes the caller's
:class:`~kingdom.domain.access.ReadScope` so the filter is part of the query
itself; fetching a page and filtering it afterwards would return short pages
and leak counts.

Pagination is by keyset, not offset: a cursor encodes the sort key of an edge
(adapters choose the encoding; callers treat it as opaque), so a page stays
stable while rows are inserted and costs the same at any depth.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final, Generic, NamedTuple, TypeVar

from kingdom.domain.access import Policy, ReadScope
from kingdom.domain.identity import UserStatus
from kingdom.domain.ledger import AccountStatus
from kingdom.domain.shared import Invalid

MAX_PAGE_SIZE: Final = 100
"""The largest page a client may ask for: bounds the work of one request."""

T = TypeVar("T")


class Direction(StrEnum):
    FORWARD = "forward"
    """Items after the cursor, in sort order (``first``/``after``)."""
    BACKWARD = "backward"
    """Items before the cursor, still returned in sort order (``last``/``before``)."""


@dataclass(frozen=True)
class PageRequest:
    """Which slice of a listing to return (the Relay connection arguments)."""

    limit: int
    cursor: str | None = None
    direction: Direction = Direction.FORWARD
    count_total: bool = True
    """Whether the caller shows ``Page.total``: an adapter that counts skips the
    count when not (it can cost as much as the page)."""
    edge_cursors: bool = True
    """Whether the caller shows every edge's cursor. When not, only the first and
    last edges carry theirs (``start_cursor``/``end_cursor``); the others carry
    ``""``, which spares signing a cursor per row."""
    end_cursors: bool = True
    """Whether the caller shows ``start_cursor``/``end_cursor``. With neither this
    nor ``edge_cursors``, no cursor is signed: every edge carries ``""``."""

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not 1 <= self.limit <= MAX_PAGE_SIZE:
            raise Invalid(f"a page holds 1 to {MAX_PAGE_SIZE} items")
        if self.cursor == "":
            raise Invalid("a cursor cannot be empty")

    @classmethod
    def first(cls, limit: int, after: str | None = None) -> PageRequest:
        return cls(limit, after, Direction.FORWARD)

    @classmethod
    def last(cls, limit: int, before: str | None = None) -> PageRequest:
        return cls(limit, before, Direction.BACKWARD)


class Edge(NamedTuple, Generic[T]):
    """One item and the cursor pointing at it.

    A named tuple, not a frozen dataclass: as immutable, and a page builds
    one per row (a frozen dataclass sets each field through ``object.__setattr__``).
    """

    cursor: str
    node: T


@dataclass(frozen=True)
class Page(Generic[T]):
    """A slice of a listing, in sort order, with what lies on either side.

    ``total`` is optional because counting a large, scoped table costs as much
    as the listing itself; adapters fill it only when it is cheap.
    """

    edges: tuple[Edge[T], ...] = ()
    has_next: bool = False
    has_previous: bool = False
    total: int | None = None

    @classmethod
    def empty(cls) -> Page[T]:
        """The page for a denied scope: no items and no hint that any exist."""
        return cls()

    @property
    def items(self) -> tuple[T, ...]:
        return tuple(edge.node for edge in self.edges)

    @property
    def start_cursor(self) -> str | None:
        return self.edges[0].cursor if self.edges else None

    @property
    def end_cursor(self) -> str | None:
        return self.edges[-1].cursor if self.edges else None


class UserView(NamedTuple):
    """A user as read. A named tuple, like :class:`AccountView`: a page of owners builds one per row."""

    id: str
    email: str
    display_name: str
    status: UserStatus
    role_codes: tuple[str, ...] = ()
    policies: tuple[Policy, ...] = ()
    version: int = 0


@dataclass(frozen=True)
class RoleView:
    code: str
    name: str
    policies: tuple[Policy, ...] = field(default=())
    version: int = 0


class AccountView(NamedTuple):
    """An account as read. A named tuple, like :class:`Edge`: a page builds one per row."""

    id: str
    owner_id: str
    currency: str
    balance: int
    status: AccountStatus
    version: int = 0


@dataclass(frozen=True)
class TransferView:
    id: str
    source_id: str
    target_id: str
    amount: int
    currency: str
    occurred_at: datetime


class _ScopedQueries(ABC, Generic[T]):
    """A listing and a batch lookup, both restricted to what the caller may read."""

    @abstractmethod
    async def list(self, scope: ReadScope, page: PageRequest) -> Page[T]:
        """The page of items within ``scope``; a denied scope gives an empty page."""

    @abstractmethod
    async def by_ids(self, scope: ReadScope, ids: Sequence[str]) -> Mapping[str, T]:
        """The items with these ids that ``scope`` allows, keyed by id (for batch loaders).

        Ids that do not exist or are out of scope are simply absent: the two
        cases must look the same to the caller.
        """


class UserQueries(_ScopedQueries[UserView]):
    """Users sorted by e-mail (then id).

    ``with_roles=False`` says the caller will not read ``role_codes``: the
    views then carry none, which spares a query.
    """

    @abstractmethod
    async def list(
        self, scope: ReadScope, page: PageRequest, *, with_roles: bool = True
    ) -> Page[UserView]:
        """The page of users within ``scope``; a denied scope gives an empty page."""

    @abstractmethod
    async def by_ids(
        self, scope: ReadScope, ids: Sequence[str], *, with_roles: bool = True
    ) -> Mapping[str, UserView]:
        """The users with these ids that ``scope`` allows, keyed by id (missing = hidden)."""


class RoleQueries(_ScopedQueries[RoleView]):
    """Roles sorted by code."""


class AccountQueries(_ScopedQueries[AccountView]):
    """Accounts sorted by id."""


class TransferQueries(ABC):
    """Transfers, newest first, visible when the caller may read either account."""

    @abstractmethod
    async def list(
        self, scope: ReadScope, page: PageRequest, account_id: str | None = None
    ) -> Page[TransferView]:
        """Transfers touching an account in ``scope`` (``scope`` is the *accounts* scope).

        With ``account_id``, only the transfers from or to that account.
        """

    @abstractmethod
    async def by_ids(self, scope: ReadScope, ids: Sequence[str]) -> Mapping[str, TransferView]:
        """The transfers with these ids touching an account in ``scope``, keyed by id.

        As for :meth:`list`, ``scope`` is the *accounts* scope: a transfer is
        visible when either of its accounts is. Missing and hidden ids are
        both simply absent.
        """
