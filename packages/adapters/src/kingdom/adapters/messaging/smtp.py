"""The SMTP mailer: one connection per message, with the standard library's smtplib.

``SmtpMailer(url, sender)`` hands each message to the server at ``url``:

* ``smtp://host[:port]`` — plain SMTP (port 25); add ``?starttls=1`` to
  upgrade with STARTTLS;
* ``smtp+starttls://host[:port]`` — STARTTLS (port 587), the submission port;
* ``smtps://host[:port]`` — TLS from the first byte (port 465);
* ``user:password@`` before the host logs in (URL-encoded: ``%40`` for ``@``),
  only over TLS or STARTTLS unless the host is this machine (a password is
  never sent in clear over a network);
* ``?timeout=10`` — seconds for connecting and for each reply (default 10).

Certificates are verified against the system's CA store (a test passes its
own :class:`ssl.SSLContext`). smtplib blocks, so each send runs in a thread
(:func:`asyncio.to_thread`); only workers send mail, never a request.

Failures are sorted for the worker (:mod:`kingdom.services.mail.handlers`):

* :class:`~kingdom.services.ports.PermanentMailFailure` — a 5xx reply to the
  recipient (RCPT: no such user) or to the message (DATA): retrying will not help;
* :class:`~kingdom.services.ports.TemporaryMailFailure` — everything else:
  the server unreachable, a timeout, a TLS failure, any 4xx, and also a 5xx
  to the greeting, HELO, STARTTLS, AUTH or MAIL FROM. Those say the server
  takes no mail from *us* (bad credentials, sender not allowed): a
  configuration to fix, not a message to drop, so the mail waits for the fix
  (until it expires).

The failure's text names the stage and the server's codes, never the
recipient or the body, and the smtplib error is not chained to it (its
arguments may hold the recipient's address).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import smtplib
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from enum import StrEnum
from typing import Final
from urllib.parse import parse_qsl, unquote, urlsplit

from kingdom.adapters.messaging.mail_message import compose
from kingdom.services.ports import Mailer, PermanentMailFailure, TemporaryMailFailure

DEFAULT_TIMEOUT: Final = 10.0
MAX_TIMEOUT: Final = 300.0
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
_ENHANCED_STATUS: Final = re.compile(rb"\s*([245]\.\d{1,3}\.\d{1,3})\b")


class SmtpUrlError(ValueError):
    """The SMTP URL cannot be used; the message never repeats the password."""


class Security(StrEnum):
    PLAIN = "plain"
    STARTTLS = "starttls"
    TLS = "tls"


_SCHEMES: Final = {
    "smtp": (Security.PLAIN, 25),
    "smtp+starttls": (Security.STARTTLS, 587),
    "smtps": (Security.TLS, 465),
}


@dataclass(frozen=True)
class SmtpEndpoint:
    """Where and how to reach the mail server, as parsed from its URL."""

    host: str
    port: int
    security: Security = Security.PLAIN
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def parse(cls, url: str) -> SmtpEndpoint:
        """The endpoint ``url`` names, or :class:`SmtpUrlError` saying what is wrong."""
        try:
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            if scheme not in _SCHEMES:
                raise SmtpUrlError("expected smtp://, smtp+starttls:// or smtps://")
            security, default_port = _SCHEMES[scheme]
            host = parts.hostname
            if not host:
                raise SmtpUrlError("the URL names no host")
            port = parts.port or default_port  # ValueError when out of range
        except ValueError as error:
            # urllib's words name the port or the brackets, never the password.
            raise SmtpUrlError(str(error)) from None
        if parts.path not in ("", "/") or parts.fragment:
            raise SmtpUrlError("an SMTP URL has no path or fragment")
        timeout = DEFAULT_TIMEOUT
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if name == "starttls" and scheme == "smtp":
                if value.lower() in _TRUE:
                    security = Security.STARTTLS
                elif value.lower() not in _FALSE:
                    raise SmtpUrlError(f"starttls={value!r}: expected 1 or 0")
            elif name == "timeout":
                timeout = _timeout(value)
            else:
                raise SmtpUrlError(
                    f"unknown parameter {name!r} (known: starttls with smtp://, timeout)"
                )
        username = unquote(parts.username) if parts.username is not None else None
        password = unquote(parts.password) if parts.password is not None else None
        if password is not None and not username:
            raise SmtpUrlError("a password needs a user name")
        if username and security is Security.PLAIN and not _is_loopback(host):
            raise SmtpUrlError(
                "credentials over an unencrypted connection: use smtp+starttls:// or smtps://"
            )
        return cls(host, port, security, username or None, password, timeout)

    def describe(self) -> str:
        """The endpoint for a log line: the URL without its password."""
        scheme = {Security.PLAIN: "smtp", Security.STARTTLS: "smtp+starttls"}.get(
            self.security, "smtps"
        )
        user = f"{self.username}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{user}{host}:{self.port}"


class SmtpMailer(Mailer):
    def __init__(
        self,
        url: str | SmtpEndpoint,
        sender: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """``url``: see the module doc (:class:`SmtpUrlError` if unusable); ``sender``: From."""
        self.endpoint = url if isinstance(url, SmtpEndpoint) else SmtpEndpoint.parse(url)
        self.sender = sender
        self._ssl_context = ssl_context
        self._local_hostname: str | None = None

    async def send(
        self, to: str, subject: str, body: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        message = compose(
            sender=self.sender,
            to=to,
            subject=subject,
            body=body,
            now=datetime.now(UTC),
            headers=headers,
        )
        await asyncio.to_thread(self._deliver, message, to)

    def _deliver(self, message: EmailMessage, to: str) -> None:
        stage = "connect"
        try:
            smtp = self._connect()
        except (smtplib.SMTPException, OSError) as error:
            raise _failure(stage, error) from None
        try:
            if self.endpoint.security is Security.STARTTLS:
                stage = "STARTTLS"
                smtp.starttls(context=self._context())
            if self.endpoint.username:
                stage = "AUTH"
                smtp.login(self.endpoint.username, self.endpoint.password or "")
            stage = "send"
            smtp.send_message(message, to_addrs=[to])
        except (smtplib.SMTPException, OSError) as error:
            raise _failure(stage, error) from None
        finally:
            _quit(smtp)

    def _connect(self) -> smtplib.SMTP:
        endpoint = self.endpoint
        if self._local_hostname is None:
            # What smtplib would look up on every connection (it may ask DNS).
            self._local_hostname = socket.getfqdn()
        if endpoint.security is Security.TLS:
            return smtplib.SMTP_SSL(
                endpoint.host,
                endpoint.port,
                local_hostname=self._local_hostname,
                timeout=endpoint.timeout,
                context=self._context(),
            )
        return smtplib.SMTP(
            endpoint.host,
            endpoint.port,
            local_hostname=self._local_hostname,
            timeout=endpoint.timeout,
        )

    def _context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context


def _failure(stage: str, error: Exception) -> TemporaryMailFailure | PermanentMailFailure:
    """The worker's view of an smtplib or socket error (see the module doc)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = list(error.recipients.values())
        described = ", ".join(_reply(code, reply) for code, reply in codes) or "no reply"
        if codes and all(500 <= code < 600 for code, _reply_text in codes):
            return PermanentMailFailure(f"recipient refused: {described}")
        return TemporaryMailFailure(f"recipient refused: {described}")
    if isinstance(error, smtplib.SMTPDataError) and 500 <= error.smtp_code < 600:
        return PermanentMailFailure(f"message refused: {_reply(error.smtp_code, error.smtp_error)}")
    if isinstance(error, smtplib.SMTPSenderRefused):
        return TemporaryMailFailure(f"sender refused: {_reply(error.smtp_code, error.smtp_error)}")
    if isinstance(error, smtplib.SMTPResponseException):
        return TemporaryMailFailure(f"{stage}: {_reply(error.smtp_code, error.smtp_error)}")
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return TemporaryMailFailure(f"{stage}: not supported by the server")
    # Unreachable, timed out, disconnected, TLS failures: the error's own words
    # (an address and an errno, no recipient: none was sent yet or it failed before).
    return TemporaryMailFailure(f"{stage}: {type(error).__name__}: {error}")


def _reply(code: int, text: bytes | str) -> str:
    """``550 5.1.1``: the reply code and the enhanced status code, without the server's prose."""
    raw = text.encode(errors="replace") if isinstance(text, str) else text
    found = _ENHANCED_STATUS.match(raw or b"")
    return f"{code} {found.group(1).decode()}" if found else str(code)


def _quit(smtp: smtplib.SMTP) -> None:
    # The message is handed over (or has failed) by now: a failed QUIT must
    # not turn a delivered mail into a retried one.
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _timeout(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise SmtpUrlError(f"timeout={value!r}: expected seconds") from None
    if not 0 < seconds <= MAX_TIMEOUT:
        raise SmtpUrlError(f"timeout={value!r}: expected more than 0 and at most {MAX_TIMEOUT:g}")
    return seconds


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
