"""The SMTP mailer's URL forms and how it sorts the server's refusals (no server needed)."""

from __future__ import annotations

import smtplib
import ssl

import pytest

from kingdom.adapters.messaging.smtp import (
    DEFAULT_TIMEOUT,
    Security,
    SmtpEndpoint,
    SmtpMailer,
    SmtpUrlError,
    _failure,
)
from kingdom.services.ports import PermanentMailFailure, TemporaryMailFailure


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.org", SmtpEndpoint("mail.example.org", 25)),
        ("smtp://127.0.0.1:2525", SmtpEndpoint("127.0.0.1", 2525)),
        ("SMTP://mail.example.org:25/", SmtpEndpoint("mail.example.org", 25)),
        ("smtp://[::1]:2525", SmtpEndpoint("::1", 2525)),
        (
            "smtp://mail.example.org?starttls=1",
            SmtpEndpoint("mail.example.org", 25, Security.STARTTLS),
        ),
        ("smtp://mail.example.org?starttls=0", SmtpEndpoint("mail.example.org", 25)),
        (
            "smtp+starttls://mail.example.org",
            SmtpEndpoint("mail.example.org", 587, Security.STARTTLS),
        ),
        ("smtps://mail.example.org", SmtpEndpoint("mail.example.org", 465, Security.TLS)),
        (
            "smtps://kingdom%40example.org:p%40ss%3Aw%2Ford@mail.example.org:4650?timeout=2.5",
            SmtpEndpoint(
                "mail.example.org", 4650, Security.TLS, "kingdom@example.org", "p@ss:w/ord", 2.5
            ),
        ),
        (
            "smtp+starttls://ann@mail.example.org",
            SmtpEndpoint("mail.example.org", 587, Security.STARTTLS, "ann", None),
        ),
        # A local relay may take a password over plain SMTP: it never crosses a network.
        ("smtp://u:p@localhost:25", SmtpEndpoint("localhost", 25, Security.PLAIN, "u", "p")),
    ],
)
def test_url_forms(url: str, expected: SmtpEndpoint) -> None:
    assert SmtpEndpoint.parse(url) == expected


def test_the_default_timeout() -> None:
    assert SmtpEndpoint.parse("smtp://h").timeout == DEFAULT_TIMEOUT == 10.0


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://mail.example.org", "expected smtp://"),
        ("mail.example.org:25", "expected smtp://"),
        ("smtp://", "no host"),
        ("smtp://:25", "no host"),
        ("smtp://h:70000", "out of range"),
        ("smtp://h:port", "port"),
        ("smtp://h/inbox", "no path"),
        ("smtp://h#x", "no path or fragment"),
        ("smtp://h?starttls=maybe", "expected 1 or 0"),
        ("smtps://h?starttls=1", "unknown parameter 'starttls'"),
        ("smtp://h?tls=1", "unknown parameter 'tls'"),
        ("smtp://h?timeout=0", "timeout"),
        ("smtp://h?timeout=soon", "expected seconds"),
        ("smtp://:secret@h", "needs a user name"),
        ("smtp://ann:secret@mail.example.org", "unencrypted"),
        ("smtp://ann:secret@[::1", "Invalid IPv6"),
    ],
)
def test_unusable_urls_are_refused_without_repeating_the_password(url: str, reason: str) -> None:
    with pytest.raises(SmtpUrlError, match=reason.replace("?", r"\?")) as refused:
        SmtpEndpoint.parse(url)
    assert "secret" not in str(refused.value)


def test_neither_repr_nor_description_shows_the_password() -> None:
    endpoint = SmtpEndpoint.parse("smtp+starttls://ann:hunter22@mail.example.org")

    assert "hunter22" not in repr(endpoint)
    assert endpoint.describe() == "smtp+starttls://ann@mail.example.org:587"
    assert SmtpEndpoint.parse("smtps://[::1]").describe() == "smtps://[::1]:465"
    assert SmtpEndpoint.parse("smtp://h?starttls=1").describe() == "smtp+starttls://h:25"


def test_the_mailer_parses_its_url_up_front() -> None:
    with pytest.raises(SmtpUrlError):
        SmtpMailer("smtp://", "kingdom@example.org")
    mailer = SmtpMailer("smtps://mail.example.org", "kingdom@example.org")
    assert mailer.endpoint == SmtpEndpoint("mail.example.org", 465, Security.TLS)


# Which refusals are worth a retry.

ANN = "ann@example.org"


@pytest.mark.parametrize(
    ("error", "kind", "text"),
    [
        (
            smtplib.SMTPRecipientsRefused({ANN: (550, b"5.1.1 <ann@example.org>: no such user")}),
            PermanentMailFailure,
            "recipient refused: 550 5.1.1",
        ),
        (
            smtplib.SMTPRecipientsRefused({ANN: (450, b"4.2.0 mailbox busy")}),
            TemporaryMailFailure,
            "recipient refused: 450 4.2.0",
        ),
        (
            smtplib.SMTPDataError(554, b"5.7.1 message rejected as spam"),
            PermanentMailFailure,
            "message refused: 554 5.7.1",
        ),
        (smtplib.SMTPDataError(451, b"try later"), TemporaryMailFailure, "AUTH: 451"),
        # The server takes no mail from us at all: a configuration to fix, not a mail to drop.
        (
            smtplib.SMTPSenderRefused(553, b"5.7.1 not owned by user", "kingdom@example.org"),
            TemporaryMailFailure,
            "sender refused: 553 5.7.1",
        ),
        (
            smtplib.SMTPAuthenticationError(535, b"5.7.8 bad credentials"),
            TemporaryMailFailure,
            "AUTH: 535 5.7.8",
        ),
        (smtplib.SMTPConnectError(554, b"no service"), TemporaryMailFailure, "AUTH: 554"),
        (
            smtplib.SMTPNotSupportedError("STARTTLS extension not supported by server."),
            TemporaryMailFailure,
            "AUTH: not supported by the server",
        ),
        (
            smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
            TemporaryMailFailure,
            "AUTH: SMTPServerDisconnected: Connection unexpectedly closed",
        ),
        (
            ConnectionRefusedError(111, "Connection refused"),
            TemporaryMailFailure,
            "AUTH: ConnectionRefusedError: [Errno 111] Connection refused",
        ),
        (TimeoutError("timed out"), TemporaryMailFailure, "AUTH: TimeoutError: timed out"),
        (
            ssl.SSLCertVerificationError(1, "certificate verify failed"),
            TemporaryMailFailure,
            "AUTH: SSLCertVerificationError: certificate verify failed",
        ),
    ],
)
def test_refusals_are_sorted_and_described_without_the_recipient(
    error: Exception, kind: type[Exception], text: str
) -> None:
    failure = _failure("AUTH", error)

    assert type(failure) is kind
    assert str(failure) == text
    assert ANN not in str(failure)
