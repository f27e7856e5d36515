"""``KINGDOM_SMTP_URL`` and ``KINGDOM_MAIL_FROM``: read, checked, and turned into the mailer."""

from __future__ import annotations

from pathlib import Path

import pytest

from kingdom.adapters.messaging.mail_folder import MailFolder
from kingdom.adapters.messaging.smtp import Security, SmtpMailer
from kingdom.entrypoints.event_delivery import describe
from kingdom.entrypoints.settings import Settings
from kingdom.workers.mail import describe_mail, mailer_for
from kingdom.workers.settings import SettingsError, WorkerSettings


def test_by_default_mail_goes_to_the_data_directory() -> None:
    settings = WorkerSettings.from_environ({"KINGDOM_DATA_DIR": "/srv/kingdom"})

    mailer = mailer_for(settings)

    assert (settings.smtp_url, settings.mail_from) == ("", "kingdom@localhost")
    assert isinstance(mailer, MailFolder)
    assert (mailer.directory, mailer.sender) == (Path("/srv/kingdom/mail"), "kingdom@localhost")
    assert describe_mail(settings) == "mail: written to /srv/kingdom/mail (no KINGDOM_SMTP_URL)"


def test_an_smtp_url_makes_an_smtp_mailer() -> None:
    settings = WorkerSettings.from_environ(
        {
            "KINGDOM_SMTP_URL": "smtp+starttls://kingdom:s3cret@mail.example.org",
            "KINGDOM_MAIL_FROM": "Kingdom <kingdom@example.org>",
        }
    )

    mailer = mailer_for(settings)

    assert isinstance(mailer, SmtpMailer)
    assert mailer.sender == "Kingdom <kingdom@example.org>"
    assert (mailer.endpoint.host, mailer.endpoint.security) == (
        "mail.example.org",
        Security.STARTTLS,
    )
    assert describe_mail(settings) == "mail: sent to smtp+starttls://kingdom@mail.example.org:587"


def test_the_servers_start_up_line_says_where_mail_goes_when_it_sends_it() -> None:
    embedded = Settings.from_environ({"KINGDOM_SMTP_URL": "smtp://127.0.0.1:2525"}).events
    queued = WorkerSettings(sqs_queue_url="https://sqs.example/q", smtp_url="smtp://h")

    assert describe(embedded).endswith("; mail: sent to smtp://127.0.0.1:2525")
    assert "mail" not in describe(queued)  # the Lambda workers send it


@pytest.mark.parametrize(
    "url",
    [
        "http://mail.example.org",
        "smtp://kingdom:s3cret@mail.example.org",  # a password in clear over the network
        "smtps://kingdom:s3cret@mail.example.org:99999",
    ],
)
def test_a_bad_smtp_url_names_the_variable_and_hides_the_password(url: str) -> None:
    with pytest.raises(SettingsError) as refused:
        WorkerSettings.from_environ({"KINGDOM_SMTP_URL": url})

    assert refused.value.name == "KINGDOM_SMTP_URL"
    assert "s3cret" not in str(refused.value)


@pytest.mark.parametrize(
    "sender",
    ["kingdom@example.org", "Kingdom <kingdom@example.org>", '"Kingdom, Inc." <k@example.org>'],
)
def test_senders(sender: str) -> None:
    assert WorkerSettings.from_environ({"KINGDOM_MAIL_FROM": sender}).mail_from == sender


@pytest.mark.parametrize(
    "sender", ["kingdom", "@example.org", "kingdom@", "a@b\r\nBcc: c@d", "Kingdom <>"]
)
def test_a_bad_sender_is_refused(sender: str) -> None:
    with pytest.raises(SettingsError, match="KINGDOM_MAIL_FROM"):
        WorkerSettings.from_environ({"KINGDOM_MAIL_FROM": sender})
