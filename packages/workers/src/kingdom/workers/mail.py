"""The workers' mailer, from their settings: the SMTP server, or the mail folder.

Both composition roots that build a consumer — the Lambda handler and poller
(:mod:`kingdom.workers.composition`) and the server's in-process workers
(:mod:`kingdom.entrypoints.event_delivery`) — take their mailer from here, so
one ``KINGDOM_SMTP_URL`` configures both.
"""

from __future__ import annotations

from kingdom.adapters.messaging.mail_folder import MailFolder
from kingdom.adapters.messaging.smtp import SmtpEndpoint, SmtpMailer
from kingdom.services.ports import Mailer
from kingdom.workers.settings import WorkerSettings


def mailer_for(settings: WorkerSettings) -> Mailer:
    """SMTP at ``settings.smtp_url``; without one, ``.eml`` files in ``<data dir>/mail/``."""
    if settings.smtp_url:
        return SmtpMailer(settings.smtp_url, settings.mail_from)
    return MailFolder(settings.data_dir / "mail", sender=settings.mail_from)


def describe_mail(settings: WorkerSettings) -> str:
    """Where mail goes, for a start-up line (no password)."""
    if settings.smtp_url:
        return f"mail: sent to {SmtpEndpoint.parse(settings.smtp_url).describe()}"
    return f"mail: written to {settings.data_dir / 'mail'} (no KINGDOM_SMTP_URL)"
