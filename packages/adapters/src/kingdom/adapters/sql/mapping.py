"""Classical (imperative) ORM mapping of the domain classes onto the tables.

The domain knows nothing of SQLAlchemy: the mapping is applied to its plain
classes from here, once, by :func:`start_mappers`. What it maps:

* ``User``, ``Role``, ``Account`` — their columns, with ``version`` as the
  mapper's version column. ``version_id_generator=False`` leaves the value to
  the unit of work, which bumps it for every aggregate it writes (also a user
  whose only change is a role), while the ORM still adds
  ``WHERE version = :seen`` to each UPDATE and raises ``StaleDataError`` when
  no row matched.
* ``ResetToken`` (a plain dataclass) — its columns; written back when redeemed.
* ``RefreshSession`` (a plain dataclass) — its columns, with ``token_hash``
  as the version column (``version_id_generator=False``: the domain sets the
  new value when it rotates). The table has no version counter, and needs
  none: the hash of the current token changes on every rotation and is
  exactly what two concurrent refreshes of one session compete for. So the
  ORM's UPDATE of a rotated or revoked session is the compare-and-set
  ``UPDATE refresh_sessions SET ... WHERE id = :id AND token_hash = :loaded``,
  and a row changed meanwhile matches nothing -> ``StaleDataError`` ->
  :class:`~kingdom.services.ports.ConcurrencyConflict` (see
  :mod:`kingdom.adapters.sql.errors`): of two units of work rotating the same
  session, exactly one commits. A hand-written Core UPDATE would do the same
  but add a second write path beside the flush (and its own snapshot and
  restore); the version column keeps sessions on the path reset tokens and
  aggregates already take. ``rotation_counter`` would have served as well,
  but the hash is what a refresh presents, and it cannot repeat.

Deliberately *not* mapped:

* ``User.role_codes`` stays a plain ``set[str]`` attribute. Mapping it over
  ``user_roles`` would need either a mapped link class plus an association
  proxy (the attribute would become a proxy object, not the ``set`` the
  domain declares) or eager-load tricks. The user repository reads the codes
  with the user and the unit of work writes the difference instead.
* ``Transfer`` is a frozen dataclass — a value, appended once and never
  loaded back through the write model (the read side has its own queries).
  ORM instrumentation would set attributes on it behind ``frozen`` and track
  it as a mutable entity, so transfers are written with a Core INSERT.
"""

from __future__ import annotations

from sqlalchemy.orm import registry

from kingdom.adapters.identity.tables import refresh_sessions, reset_tokens, roles, users
from kingdom.adapters.ledger.tables import accounts
from kingdom.adapters.sql.metadata import metadata
from kingdom.domain.identity import RefreshSession, ResetToken, Role, User
from kingdom.domain.ledger import Account

mapper_registry = registry(metadata=metadata)

_started = False


def start_mappers() -> None:
    """Map the domain classes; calling it again (tests, several apps) does nothing."""
    global _started
    if _started:
        return
    mapper_registry.map_imperatively(
        User,
        users,
        version_id_col=users.c.version,
        version_id_generator=False,
    )
    mapper_registry.map_imperatively(
        Role,
        roles,
        version_id_col=roles.c.version,
        version_id_generator=False,
    )
    mapper_registry.map_imperatively(
        Account,
        accounts,
        version_id_col=accounts.c.version,
        version_id_generator=False,
    )
    mapper_registry.map_imperatively(ResetToken, reset_tokens)
    mapper_registry.map_imperatively(
        RefreshSession,
        refresh_sessions,
        version_id_col=refresh_sessions.c.token_hash,
        version_id_generator=False,
    )
    _started = True
