"""The identity tables.

Roles held by a user live in the ``user_roles`` association table (not a JSON
list on ``users``) so a role cannot be deleted while assigned and "who holds
role X" is an indexed query. Policies are a JSON column: they are always read
and written as a whole with their owner and never queried individually.

Column names are a contract with the read side (``queries.py``) and the
migrations: change them only together.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    text,
)

from kingdom.adapters.sql.metadata import metadata
from kingdom.adapters.sql.types import PolicySet, StatusEnum, UtcDateTime
from kingdom.domain.identity import UserStatus

ID = 64
"""Length of every generated id column (UUIDs and similar fit with room to spare)."""

users = Table(
    "users",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("display_name", String(100), nullable=False),
    Column("status", StatusEnum(UserStatus), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("policies", PolicySet(), nullable=False),
    Column("token_version", Integer, nullable=False, server_default=text("0")),
    Column("version", Integer, nullable=False),
)

roles = Table(
    "roles",
    metadata,
    Column("id", String(64), primary_key=True),  # the role code
    Column("name", String(100), nullable=False),
    Column("policies", PolicySet(), nullable=False),
    Column("version", Integer, nullable=False),
)

user_roles = Table(
    "user_roles",
    metadata,
    Column("user_id", String(ID), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role_code", String(64), ForeignKey("roles.id"), primary_key=True),
    # The primary key serves "roles of a user"; this serves "users holding a role".
    Index(None, "role_code"),
)

reset_tokens = Table(
    "reset_tokens",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column(
        "user_id",
        String(ID),
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("token_hash", String(128), nullable=False, unique=True),  # sha256 hex
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("issued_at", UtcDateTime(), nullable=False),
    Column("used_at", UtcDateTime(), nullable=True),
)

refresh_sessions = Table(
    "refresh_sessions",
    metadata,
    # One row per session *family*: every rotated refresh token of a login
    # shares it, so reuse of an old token can revoke the whole family.
    Column("id", String(ID), primary_key=True),
    Column(
        "user_id",
        String(ID),
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("token_hash", String(128), nullable=False, unique=True),  # of the current token
    Column("rotation_counter", Integer, nullable=False, server_default=text("0")),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_used_at", UtcDateTime(), nullable=True),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
)
