"""The workers' settings: ``KINGDOM_*`` variables, read once by a composition root.

The Lambda handler, the poller, the relay and the redrive command read them
here; the server reads the same variables (its own settings hold these), so
one environment configures a whole deployment. Region and credentials are
boto3's own (``AWS_REGION``, ``AWS_ACCESS_KEY_ID``..., or an instance role).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit

from kingdom.adapters.messaging.mail_folder import DEFAULT_SENDER
from kingdom.adapters.messaging.smtp import SmtpEndpoint, SmtpUrlError
from kingdom.adapters.sql.engine import DEFAULT_POOL_SIZE, DatabaseUrlError, parse_database_url
from kingdom.adapters.telemetry import traces_endpoint

PREFIX = "KINGDOM_"
DEFAULT_DATA_DIR = Path(".kingdom")


class SettingsError(ValueError):
    """A ``KINGDOM_*`` variable holds a value the workers cannot use."""

    def __init__(self, name: str, value: str, reason: str) -> None:
        super().__init__(f"{PREFIX}{name}={value!r}: {reason}")
        self.name = f"{PREFIX}{name}"


@dataclass(frozen=True)
class WorkerSettings:
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    """Empty means the embedded SQLite file in ``data_dir`` (the server's default)."""
    database_pool_size: int = DEFAULT_POOL_SIZE
    sqs_queue_url: str | None = None
    """The queue events travel on; None: the embedded in-process transport."""
    aws_endpoint_url: str | None = None
    """Another SQS endpoint than AWS's (a local one such as moto's server)."""
    relay: bool = True
    """Whether the server runs a relay in-process (``KINGDOM_RELAY=off``: another process does)."""
    relay_batch_size: int = 100
    """Outbox rows one relay claims at a time (sent to SQS in batches of 10)."""
    relay_poll_ms: int = 200
    """How often an idle relay looks at the outbox when nothing woke it."""
    outbox_retention_seconds: int = 7 * 24 * 60 * 60
    """Published outbox rows are deleted after this long."""
    poller_wait_seconds: int = 20
    """SQS long-poll wait of the local poller (1-20 s)."""
    smtp_url: str = ""
    """The mail server (see :mod:`kingdom.adapters.messaging.smtp`); empty: ``<data_dir>/mail/``."""
    mail_from: str = DEFAULT_SENDER
    """The From of every mail the workers send."""
    otel_traces_endpoint: str | None = None
    """Where spans go (OTLP/HTTP); None: none recorded (see :mod:`kingdom.adapters.telemetry`)."""

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or default_database_url(self.data_dir)

    @property
    def fifo(self) -> bool:
        return bool(self.sqs_queue_url and self.sqs_queue_url.endswith(".fifo"))

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> WorkerSettings:
        defaults = cls()

        def get(name: str, default: object = "") -> str:
            return environ.get(f"{PREFIX}{name}", "") or str(default)

        database_url = get("DATABASE_URL")
        if database_url:
            try:
                parse_database_url(database_url)
            except DatabaseUrlError as error:
                raise SettingsError("DATABASE_URL", "<hidden>", str(error)) from None
        relay = get("RELAY", "on").lower()
        if relay not in ("on", "off"):
            raise SettingsError("RELAY", relay, "expected on or off")
        smtp_url = get("SMTP_URL")
        if smtp_url:
            try:
                SmtpEndpoint.parse(smtp_url)
            except SmtpUrlError as error:
                raise SettingsError("SMTP_URL", _redacted(smtp_url), str(error)) from None
        return cls(
            data_dir=Path(get("DATA_DIR", defaults.data_dir)),
            database_url=database_url,
            database_pool_size=_integer(
                "DATABASE_POOL_SIZE", get("DATABASE_POOL_SIZE", DEFAULT_POOL_SIZE), 1, 1000
            ),
            sqs_queue_url=_http_url("SQS_QUEUE_URL", get("SQS_QUEUE_URL")),
            aws_endpoint_url=_http_url("AWS_ENDPOINT_URL", get("AWS_ENDPOINT_URL")),
            relay=relay == "on",
            relay_batch_size=_integer(
                "RELAY_BATCH_SIZE", get("RELAY_BATCH_SIZE", defaults.relay_batch_size), 1, 10_000
            ),
            relay_poll_ms=_integer(
                "RELAY_POLL_MS", get("RELAY_POLL_MS", defaults.relay_poll_ms), 10, 60_000
            ),
            outbox_retention_seconds=_integer(
                "OUTBOX_RETENTION_SECONDS",
                get("OUTBOX_RETENTION_SECONDS", defaults.outbox_retention_seconds),
                60,
                10 * 365 * 24 * 60 * 60,
            ),
            poller_wait_seconds=_integer(
                "POLLER_WAIT_SECONDS",
                get("POLLER_WAIT_SECONDS", defaults.poller_wait_seconds),
                1,
                20,
            ),
            smtp_url=smtp_url,
            mail_from=_mail_from(get("MAIL_FROM", defaults.mail_from)),
            otel_traces_endpoint=traces_endpoint(
                _http_url("OTEL_EXPORTER_OTLP_ENDPOINT", get("OTEL_EXPORTER_OTLP_ENDPOINT")),
                environ,
            ),
        )


def default_database_url(data_dir: Path) -> str:
    """The embedded default: a SQLite file in the data directory."""
    return f"sqlite+aiosqlite:///{data_dir / 'kingdom.db'}"


def _integer(name: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(name, value, "expected an integer") from None
    if not low <= number <= high:
        raise SettingsError(name, value, f"expected {low} to {high}")
    return number


def _http_url(name: str, value: str) -> str | None:
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(name, value, "expected an http(s) URL")
    return value


def _redacted(url: str) -> str:
    """``url`` as an error message may show it: any password replaced by ``***``."""
    scheme, separator, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{scheme}{separator}{userinfo.partition(':')[0]}:***@{host}"


def _mail_from(value: str) -> str:
    """An address, bare or with a name (``Kingdom <kingdom@example.org>``), on one line."""
    _name, address = parseaddr(value)
    local, at, domain = address.rpartition("@")
    if not (at and local and domain) or not value.isprintable() or " " in address:
        raise SettingsError("MAIL_FROM", value, "expected an e-mail address")
    return value
