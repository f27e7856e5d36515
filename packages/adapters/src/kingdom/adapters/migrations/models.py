"""The models the migrations must agree with: every Kingdom table, on one MetaData."""

from __future__ import annotations

from sqlalchemy import MetaData

# Importing a tables module registers its tables on the shared MetaData; a new
# tables module must be added here, or `check` reports its tables as missing.
from kingdom.adapters.identity import tables as _identity_tables  # noqa: F401
from kingdom.adapters.identity import throttle as _throttle  # noqa: F401
from kingdom.adapters.ledger import tables as _ledger_tables  # noqa: F401
from kingdom.adapters.sql import audit as _audit  # noqa: F401
from kingdom.adapters.sql import idempotency as _idempotency  # noqa: F401
from kingdom.adapters.sql import inbox as _inbox  # noqa: F401
from kingdom.adapters.sql import outbox as _outbox  # noqa: F401
from kingdom.adapters.sql import outgoing_mail as _outgoing_mail  # noqa: F401
from kingdom.adapters.sql.metadata import metadata


def target_metadata() -> MetaData:
    return metadata
