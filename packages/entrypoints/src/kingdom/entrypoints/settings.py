"""Server settings, parsed and validated once from ``KINGDOM_*`` variables."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from kingdom.adapters.sql.engine import DatabaseUrlError, parse_database_url

PREFIX = "KINGDOM_"
DEFAULT_DATA_DIR = Path(".kingdom")


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

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Read the settings from a mapping such as ``os.environ``.

        Unset variables take their defaults; a set but invalid variable
        raises :class:`SettingsError` naming it.
        """
        defaults = cls()
        data_dir = Path(environ.get(f"{PREFIX}DATA_DIR") or defaults.data_dir)
        return cls(
            host=_host(environ.get(f"{PREFIX}HOST", defaults.host)),
            port=_port(environ.get(f"{PREFIX}PORT", str(defaults.port))),
            data_dir=data_dir,
            database_url=_database_url(environ.get(f"{PREFIX}DATABASE_URL", ""), data_dir),
        )

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
