"""The SMTP mailer over STARTTLS and implicit TLS, logging in, against a real server on 127.0.0.1.

The server (aiosmtpd) has a self-signed certificate for 127.0.0.1, made here;
the mailer trusts it through its ``ssl_context`` (production uses the system's
CA store). No database: this is the adapter alone.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from integration.workers.test_mail_smtp import Collector, free_port
from kingdom.adapters.messaging.smtp import SmtpMailer
from kingdom.services.ports import TemporaryMailFailure

USER, PASSWORD = "kingdom@example.org", "p@ss:w/rd"
URL_PASSWORD = "p%40ss%3Aw%2Frd"
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """(certificate file, key file, certificate PEM) for 127.0.0.1, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    (directory / "cert.pem").write_bytes(pem)
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return directory / "cert.pem", directory / "key.pem", pem.decode()


def server_context(certificate: tuple[Path, Path, str]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate[0], certificate[1])
    return context


def trusting(certificate: tuple[Path, Path, str]) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=certificate[2])


def authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)  # not handled: the server answers 535


@contextmanager
def tls_server(
    collector: Collector, certificate: tuple[Path, Path, str], *, implicit: bool
) -> Iterator[int]:
    port = free_port()
    options: dict[str, Any] = {
        "authenticator": authenticator,
        "auth_required": True,
    }
    if implicit:
        options["ssl_context"] = server_context(certificate)
        options["auth_require_tls"] = False  # aiosmtpd counts only STARTTLS as TLS
    else:
        options["tls_context"] = server_context(certificate)
        options["require_starttls"] = True
    controller = Controller(collector, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.mark.parametrize(
    ("implicit", "url"),
    [
        (False, "smtp+starttls://{user}:{password}@127.0.0.1:{port}"),
        (False, "smtp://{user}:{password}@127.0.0.1:{port}?starttls=1"),
        (True, "smtps://{user}:{password}@127.0.0.1:{port}"),
    ],
)
async def test_mail_goes_over_tls_after_logging_in(
    certificate: tuple[Path, Path, str], implicit: bool, url: str
) -> None:
    collector = Collector()
    with tls_server(collector, certificate, implicit=implicit) as port:
        mailer = SmtpMailer(
            url.format(user="kingdom%40example.org", password=URL_PASSWORD, port=port),
            "Kingdom <kingdom@example.org>",
            ssl_context=trusting(certificate),
        )

        await mailer.send(
            "ann@example.org",
            "Hello",
            "Your reset code: abc\n",
            headers={"traceparent": TRACE, "X-Request-ID": "req-1"},
        )

    [message] = collector.messages
    assert message["To"] == "ann@example.org"
    assert message["traceparent"] == TRACE
    assert message["X-Request-ID"] == "req-1"
    body = message.get_body()
    assert body is not None
    assert body.get_content().replace("\r\n", "\n") == "Your reset code: abc\n"


async def test_wrong_credentials_are_a_temporary_failure(
    certificate: tuple[Path, Path, str],
) -> None:
    # Bad credentials fail every mail: a configuration to fix, not one mail to drop.
    with tls_server(Collector(), certificate, implicit=False) as port:
        mailer = SmtpMailer(
            f"smtp+starttls://kingdom:wrong@127.0.0.1:{port}",
            "kingdom@example.org",
            ssl_context=trusting(certificate),
        )
        with pytest.raises(TemporaryMailFailure, match=r"^AUTH: 535") as failed:
            await mailer.send("ann@example.org", "Hello", "body")
    assert "wrong" not in str(failed.value)


async def test_an_untrusted_certificate_is_refused(certificate: tuple[Path, Path, str]) -> None:
    with tls_server(Collector(), certificate, implicit=True) as port:
        mailer = SmtpMailer(f"smtps://127.0.0.1:{port}", "kingdom@example.org")  # system CAs
        with pytest.raises(TemporaryMailFailure, match="certificate verify failed"):
            await mailer.send("ann@example.org", "Hello", "body")


async def test_starttls_is_required_when_asked_for() -> None:
    collector, port = Collector(), free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)  # offers no STARTTLS
    controller.start()
    try:
        mailer = SmtpMailer(f"smtp+starttls://127.0.0.1:{port}", "kingdom@example.org")
        with pytest.raises(TemporaryMailFailure, match="STARTTLS: not supported"):
            await mailer.send("ann@example.org", "Hello", "body")
    finally:
        controller.stop()
    assert collector.messages == []
