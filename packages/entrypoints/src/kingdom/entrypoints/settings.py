"""Server settings, parsed and validated once from ``KINGDOM_*`` variables."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

PREFIX = "KINGDOM_"


class SettingsError(ValueError):
    """A ``KINGDOM_*`` variable holds a value the server cannot use."""

    def __init__(self, name: str, value: str, reason: str) -> None:
        super().__init__(f"{PREFIX}{name}={value!r}: {reason}")
        self.name = f"{PREFIX}{name}"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Read the settings from a mapping such as ``os.environ``.

        Unset variables take their defaults; a set but invalid variable
        raises :class:`SettingsError` naming it.
        """
        defaults = cls()
        return cls(
            host=_host(environ.get(f"{PREFIX}HOST", defaults.host)),
            port=_port(environ.get(f"{PREFIX}PORT", str(defaults.port))),
        )


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
