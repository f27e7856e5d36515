"""Server settings, parsed and validated once from ``KINGDOM_*`` variables."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from kingdom.adapters.sql.engine import DatabaseUrlError, parse_database_url

PREFIX = "KINGDOM_"
DEFAULT_DATA_DIR = Path(".kingdom")
MIN_SIGNING_KEY_BYTES = 32
"""HS256 needs a key at least as long as its output (RFC 7518 §3.2)."""


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class SettingsError(ValueError):
    """A ``KINGDOM_*`` variable holds a value the server cannot use."""

    def __init__(self, name: str, value: str, reason: str) -> None:
        super().__init__(f"{PREFIX}{name}={value!r}: {reason}")
        self.name = f"{PREFIX}{name}"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = DEFAULT_DATA_DIR
    """Where the embedded default keeps its files (the SQLite database, later keys and mail)."""
    database_url: str = ""
    """SQLAlchemy async URL; empty means the embedded SQLite file in ``data_dir``."""
    env: Environment = Environment.DEVELOPMENT
    workers: int = 1
    signing_key: str | None = field(default=None, repr=False)
    """HS256 secret; ``None`` in development means "generate one and keep it in data_dir"."""
    token_issuer: str = "kingdom"
    token_audience: str = "kingdom-api"
    token_lifetime_seconds: int = 15 * 60
    cors_origins: tuple[str, ...] = ()
    admin_password: str | None = field(default=None, repr=False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Read the settings from a mapping such as ``os.environ``.

        Unset variables take their defaults; a set but invalid variable
        raises :class:`SettingsError` naming it.
        """
        defaults = cls()

        def get(name: str, default: object = "") -> str:
            return environ.get(f"{PREFIX}{name}", "") or str(default)

        data_dir = Path(get("DATA_DIR", defaults.data_dir))
        env = _choice("ENV", get("ENV", defaults.env), Environment)
        signing_key = _signing_key(get("TOKEN_SIGNING_KEY") or None, env)
        return cls(
            host=_host(get("HOST", defaults.host)),
            port=_port(get("PORT", defaults.port)),
            data_dir=data_dir,
            database_url=_database_url(get("DATABASE_URL"), data_dir),
            env=env,
            workers=_integer("WORKERS", get("WORKERS", defaults.workers), 1, 64),
            signing_key=signing_key,
            token_issuer=_word("TOKEN_ISSUER", get("TOKEN_ISSUER", defaults.token_issuer)),
            token_audience=_word("TOKEN_AUDIENCE", get("TOKEN_AUDIENCE", defaults.token_audience)),
            token_lifetime_seconds=_integer(
                "TOKEN_LIFETIME", get("TOKEN_LIFETIME", defaults.token_lifetime_seconds), 60, 86_400
            ),
            cors_origins=_origins(get("CORS_ORIGINS")),
            admin_password=_admin_password(get("ADMIN_PASSWORD") or None),
        )

    @property
    def production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def embedded(self) -> bool:
        """True for the zero-configuration SQLite database (migrated on start)."""
        return make_url(self.database_url).get_backend_name() == "sqlite"


def _host(value: str) -> str:
    if value == "localhost":
        return value
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise SettingsError("HOST", value, "expected an IP address or 'localhost'") from None
    return value


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise SettingsError("PORT", value, "expected an integer") from None
    if not 0 <= port <= 65535:
        raise SettingsError("PORT", value, "expected a port number between 0 and 65535")
    return port


def _database_url(value: str, data_dir: Path) -> str:
    if not value:
        return f"sqlite+aiosqlite:///{data_dir / 'kingdom.db'}"
    try:
        parse_database_url(value)
    except DatabaseUrlError as error:
        raise SettingsError("DATABASE_URL", _hide_password(value), str(error)) from None
    return value


def _hide_password(value: str) -> str:
    try:
        return make_url(value).render_as_string(hide_password=True)
    except Exception:  # not even URL-shaped: nothing to hide
        return value


def _integer(name: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(name, value, "expected an integer") from None
    if not low <= number <= high:
        raise SettingsError(name, value, f"expected {low} to {high}")
    return number


def _choice(name: str, value: str, choices: type[Environment]) -> Environment:
    try:
        return choices(value)
    except ValueError:
        allowed = ", ".join(choice.value for choice in choices)
        raise SettingsError(name, value, f"expected one of {allowed}") from None


def _word(name: str, value: str) -> str:
    if not value.strip() or any(ch.isspace() for ch in value) or len(value) > 200:
        raise SettingsError(name, value, "expected a non-empty value without spaces")
    return value


def _signing_key(value: str | None, env: Environment) -> str | None:
    if value is None:
        if env is Environment.PRODUCTION:
            raise SettingsError(
                "TOKEN_SIGNING_KEY", "", "required in production (a random secret of 32+ bytes)"
            )
        return None
    if len(value.encode()) < MIN_SIGNING_KEY_BYTES:
        raise SettingsError(
            "TOKEN_SIGNING_KEY",
            "<hidden>",
            f"too short: use at least {MIN_SIGNING_KEY_BYTES} bytes",
        )
    return value


def _origins(value: str) -> tuple[str, ...]:
    origins = tuple(origin.strip() for origin in value.split(",") if origin.strip())
    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise SettingsError("CORS_ORIGINS", value, f"{origin!r} is not an http(s) origin")
    return tuple(origin.rstrip("/") for origin in origins)


def _admin_password(value: str | None) -> str | None:
    if value is not None and not 8 <= len(value) <= 1024:
        raise SettingsError("ADMIN_PASSWORD", "<hidden>", "expected 8 to 1024 characters")
    return value
