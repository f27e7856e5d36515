"""Server settings, parsed and validated once from ``KINGDOM_*`` variables."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from kingdom.adapters.security.passwords import (
    DEFAULT_MEMORY_COST,
    DEFAULT_PARALLELISM,
    DEFAULT_TIME_COST,
)
from kingdom.adapters.security.tokens import KeySet
from kingdom.adapters.sql.engine import DEFAULT_POOL_SIZE, DatabaseUrlError, parse_database_url
from kingdom.entrypoints.key_ring import KeyRingError, load_key_ring
from kingdom.workers.settings import (
    DEFAULT_DATA_DIR,
    WorkerSettings,
    default_database_url,
)
from kingdom.workers.settings import (
    PREFIX as PREFIX,
)
from kingdom.workers.settings import SettingsError as SettingsError

_YEAR_SECONDS = 365 * 24 * 60 * 60
MIN_SIGNING_KEY_BYTES = 32
"""HS256 needs a key at least as long as its output (RFC 7518 §3.2)."""


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = DEFAULT_DATA_DIR
    """Where the embedded default keeps its files (the SQLite database, later keys and mail)."""
    database_url: str = ""
    """SQLAlchemy async URL; empty means the embedded SQLite file in ``data_dir``."""
    database_pool_size: int = DEFAULT_POOL_SIZE
    """PostgreSQL connections each worker keeps open (as many again may open in a burst).
    SQLite ignores it: its reads share one connection."""
    env: Environment = Environment.DEVELOPMENT
    workers: int = 1
    signing_key: str | None = field(default=None, repr=False)
    """HS256 secret; ``None`` (and no key ring) in development means "generate one and keep
    it in data_dir"."""
    token_keys_file: Path | None = None
    """``KINGDOM_TOKEN_KEYS_FILE``: the key ring (see :mod:`kingdom.entrypoints.key_ring`)."""
    token_keys: KeySet | None = field(default=None, repr=False, compare=False)
    """The keys loaded from ``token_keys_file``, checked once here so a bad ring stops the start."""
    token_issuer: str = "kingdom"
    token_audience: str = "kingdom-api"
    token_lifetime_seconds: int = 15 * 60
    cors_origins: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    """Addresses whose ``X-Forwarded-For`` is believed (the client address throttling sees)."""
    metrics_allow: tuple[str, ...] = ("127.0.0.1", "::1")
    """Addresses/networks that may scrape ``GET /metrics``; empty turns the route off (404)."""
    max_query_depth: int = 10
    """Levels of nested fields in a GraphQL operation (fragments followed)."""
    max_query_cost: int = 5000
    """Estimated objects a query may resolve (lists weighted by first/last)."""
    max_query_tokens: int = 2000
    """Lexical tokens in a GraphQL document (comments limited separately to as many)."""
    max_query_aliases: int = 15
    """Aliased fields in a GraphQL document."""
    max_query_length: int = 32 * 1024
    """Characters of a GraphQL document, comments and string literals included."""
    max_query_selections: int = 100
    """Fields and fragments in one selection set of a GraphQL document."""
    max_query_merge_checks: int = 10_000
    """Work the check that repeated fields can be merged may do (it is quadratic in them)."""
    query_deadline_ms: int = 5_000
    """Milliseconds a query may run before it is stopped (``DEADLINE_EXCEEDED``)."""
    admin_password: str | None = field(default=None, repr=False)
    refresh_idle_seconds: int = 24 * 60 * 60
    """A refresh-token family unused this long is dead (rotation restarts the clock)."""
    refresh_lifetime_seconds: int = 30 * 24 * 60 * 60
    """A refresh-token family ends this long after its login at the latest (>= idle)."""
    reset_token_ttl_seconds: int = 30 * 60
    """How long a password reset code works."""
    idempotency_retention_seconds: int = 24 * 60 * 60
    """How long a mutation's idempotency key answers repeats (then it runs again, and is pruned)."""
    password_time_cost: int = DEFAULT_TIME_COST
    """argon2id passes; at least argon2-cffi's default (raising it rehashes at next login)."""
    password_memory_kib: int = DEFAULT_MEMORY_COST
    """argon2id memory per hash in KiB; at least argon2-cffi's default."""
    password_parallelism: int = DEFAULT_PARALLELISM
    """argon2id lanes; at least argon2-cffi's default."""
    login_account_free_failures: int = 5
    """Failed logins per account (e-mail as typed) before delays start."""
    login_address_free_failures: int = 20
    """Failed logins per client address before delays start."""
    register_address_free_attempts: int = 20
    """Registrations per client address (each costs a password hash) before delays start."""
    login_max_delay_seconds: int = 15 * 60
    """Cap of the delay, which starts at 1 s and doubles with each further failure."""
    login_quiet_seconds: int = 15 * 60
    """A key without failures for this long is forgotten (the limits are soft)."""
    events: WorkerSettings = field(default_factory=WorkerSettings)
    """Where committed events go: the relay, SQS, the embedded workers (shared with them)."""

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
        keys_file = Path(get("TOKEN_KEYS_FILE")) if get("TOKEN_KEYS_FILE") else None
        signing_key = _signing_key(get("TOKEN_SIGNING_KEY") or None, env, keys_file)
        return cls(
            host=_host(get("HOST", defaults.host)),
            port=_port(get("PORT", defaults.port)),
            data_dir=data_dir,
            database_url=_database_url(get("DATABASE_URL"), data_dir),
            env=env,
            signing_key=signing_key,
            token_keys_file=keys_file,
            token_keys=None if keys_file is None else _token_keys(keys_file),
            token_issuer=_word("TOKEN_ISSUER", get("TOKEN_ISSUER", defaults.token_issuer)),
            token_audience=_word("TOKEN_AUDIENCE", get("TOKEN_AUDIENCE", defaults.token_audience)),
            cors_origins=_origins(get("CORS_ORIGINS")),
            trusted_proxies=_proxies(get("TRUSTED_PROXIES")),
            metrics_allow=_metrics_allow(environ.get(f"{PREFIX}METRICS_ALLOW"), defaults),
            admin_password=_admin_password(get("ADMIN_PASSWORD") or None),
            events=WorkerSettings.from_environ(environ),
            **_bounded_integers(get, defaults),
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
        return default_database_url(data_dir)
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


def _integer(name: str, value: str, low: int, high: int, note: str = "") -> int:
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(name, value, "expected an integer") from None
    if not low <= number <= high:
        raise SettingsError(
            name, value, f"expected {low} to {high}" + (f" ({note})" if note else "")
        )
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


def _signing_key(value: str | None, env: Environment, keys_file: Path | None) -> str | None:
    if value is not None and keys_file is not None:
        raise SettingsError(
            "TOKEN_KEYS_FILE",
            str(keys_file),
            f"set either it or {PREFIX}TOKEN_SIGNING_KEY, not both (a ring can hold HS256 keys)",
        )
    if value is None:
        if env is Environment.PRODUCTION and keys_file is None:
            raise SettingsError(
                "TOKEN_SIGNING_KEY",
                "",
                "required in production (a random secret of 32+ bytes), "
                f"or a key ring in {PREFIX}TOKEN_KEYS_FILE",
            )
        return None
    if len(value.encode()) < MIN_SIGNING_KEY_BYTES:
        raise SettingsError(
            "TOKEN_SIGNING_KEY",
            "<hidden>",
            f"too short: use at least {MIN_SIGNING_KEY_BYTES} bytes",
        )
    return value


def _token_keys(path: Path) -> KeySet:
    try:
        return load_key_ring(path)
    except KeyRingError as error:
        raise SettingsError("TOKEN_KEYS_FILE", str(path), str(error)) from None


_ARGON2_NOTE = "argon2-cffi's default is the floor, so no setting weakens hashing"

_BOUNDED_INTEGERS: dict[str, tuple[str, int, int, str]] = {
    # field: (variable without prefix, lowest, highest, why the lowest if not obvious)
    "workers": ("WORKERS", 1, 64, ""),
    "database_pool_size": ("DATABASE_POOL_SIZE", 1, 1000, ""),
    "token_lifetime_seconds": ("TOKEN_LIFETIME", 60, 86_400, ""),
    "max_query_depth": ("MAX_QUERY_DEPTH", 1, 100, ""),
    "max_query_cost": ("MAX_QUERY_COST", 1, 10_000_000, ""),
    "max_query_tokens": ("MAX_QUERY_TOKENS", 10, 1_000_000, ""),
    "max_query_aliases": ("MAX_QUERY_ALIASES", 0, 10_000, ""),
    "max_query_length": ("MAX_QUERY_LENGTH", 100, 1024 * 1024, ""),
    "max_query_selections": ("MAX_QUERY_SELECTIONS", 1, 100_000, ""),
    "max_query_merge_checks": ("MAX_QUERY_MERGE_CHECKS", 100, 10_000_000, ""),
    "query_deadline_ms": ("QUERY_DEADLINE_MS", 10, 600_000, ""),
    "refresh_idle_seconds": ("REFRESH_IDLE_SECONDS", 60, _YEAR_SECONDS, ""),
    "refresh_lifetime_seconds": ("REFRESH_LIFETIME_SECONDS", 60, _YEAR_SECONDS, ""),
    # As low as 1 s, so an end-to-end test can watch a code expire.
    "reset_token_ttl_seconds": ("RESET_TOKEN_TTL_SECONDS", 1, 86_400, ""),
    "idempotency_retention_seconds": ("IDEMPOTENCY_RETENTION_SECONDS", 1, _YEAR_SECONDS, ""),
    "password_time_cost": ("PASSWORD_TIME_COST", DEFAULT_TIME_COST, 100, _ARGON2_NOTE),
    "password_memory_kib": (
        "PASSWORD_MEMORY_KIB",
        DEFAULT_MEMORY_COST,
        4 * 1024 * 1024,
        _ARGON2_NOTE,
    ),
    "password_parallelism": ("PASSWORD_PARALLELISM", DEFAULT_PARALLELISM, 64, _ARGON2_NOTE),
    "login_account_free_failures": ("LOGIN_ACCOUNT_FREE_FAILURES", 0, 1_000_000, ""),
    "login_address_free_failures": ("LOGIN_ADDRESS_FREE_FAILURES", 0, 1_000_000, ""),
    "register_address_free_attempts": ("REGISTER_ADDRESS_FREE_ATTEMPTS", 0, 1_000_000, ""),
    "login_max_delay_seconds": ("LOGIN_MAX_DELAY_SECONDS", 1, 86_400, ""),
    "login_quiet_seconds": ("LOGIN_QUIET_SECONDS", 1, 86_400, ""),
}


def _bounded_integers(get: Callable[[str, object], str], defaults: Settings) -> dict[str, int]:
    """Every integer setting of :data:`_BOUNDED_INTEGERS`, range-checked, plus cross-checks."""
    values = {
        field_name: _integer(name, get(name, getattr(defaults, field_name)), low, high, note)
        for field_name, (name, low, high, note) in _BOUNDED_INTEGERS.items()
    }
    if values["refresh_lifetime_seconds"] < values["refresh_idle_seconds"]:
        raise SettingsError(
            "REFRESH_LIFETIME_SECONDS",
            str(values["refresh_lifetime_seconds"]),
            f"must be at least {PREFIX}REFRESH_IDLE_SECONDS ({values['refresh_idle_seconds']})",
        )
    return values


def _proxies(value: str) -> tuple[str, ...]:
    """IP addresses or networks, comma-separated; ``*`` (trust anyone) is refused on purpose."""
    proxies = tuple(part.strip() for part in value.split(",") if part.strip())
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise SettingsError(
                "TRUSTED_PROXIES", value, f"{proxy!r} is not an IP address or network"
            ) from None
    return proxies


def _metrics_allow(value: str | None, defaults: Settings) -> tuple[str, ...]:
    """Who may scrape ``/metrics``: unset is this host only; empty or ``off`` turns it off."""
    if value is None:
        return defaults.metrics_allow
    if value.strip().lower() in ("", "off"):
        return ()
    allowed = tuple(part.strip() for part in value.split(",") if part.strip())
    for entry in allowed:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise SettingsError(
                "METRICS_ALLOW", value, f"{entry!r} is not an IP address or network (or 'off')"
            ) from None
    return allowed


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
