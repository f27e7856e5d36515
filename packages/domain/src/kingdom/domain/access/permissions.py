"""What a grant allows: four independent actions, combinable as bit flags.

Flags keep a grant tiny (one small integer) in a token and make merging two
grants a single ``|``. The four actions are the classic CRUD verbs because
every resource in Kingdom is a collection of instances that can be listed,
created, changed and removed; anything finer belongs to the resource's own
domain rules, not to access control.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from kingdom.domain.shared import Invalid


class Permission(enum.IntFlag):
    """A set of actions; ``READ | UPDATE`` grants both.

    ``NONE`` is the empty set and ``ALL`` every action. Their integer values
    are part of the token format (see :mod:`kingdom.domain.access.context`),
    so they must never be renumbered.
    """

    NONE = 0
    READ = 1
    CREATE = 2
    UPDATE = 4
    DELETE = 8
    ALL = READ | CREATE | UPDATE | DELETE

    @classmethod
    def parse(cls, names: Iterable[str]) -> Permission:
        """Combine action names (case-insensitive, e.g. ``["read", "update"]``).

        Meant for configuration files and API input. A single string is taken
        as one name rather than iterated character by character, which would
        silently turn ``"read"`` into an unknown-name error at best. An empty
        iterable gives ``NONE``; an unknown name raises
        :class:`~kingdom.domain.shared.Invalid`.
        """
        if isinstance(names, str):
            names = (names,)
        result = cls.NONE
        for name in names:
            key = name.strip().upper() if isinstance(name, str) else None
            member = cls.__members__.get(key) if key else None
            if member is None:
                raise Invalid(f"unknown permission {name!r}")
            result |= member
        return result
