"""The RFC 5322 message both mail adapters send: plain text, with the headers Kingdom sets."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

_OWN_HEADERS = frozenset({"from", "to", "subject", "date", "message-id"})


def compose(
    *,
    sender: str,
    to: str,
    subject: str,
    body: str,
    now: datetime,
    headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """The message, with From, To, Subject, Date, Message-ID, then ``headers``.

    ``headers`` cannot replace the five above. A value with a line break is
    refused (``ValueError``) by the email package: no header injection.
    """
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=sender_domain(sender))
    for name, value in (headers or {}).items():
        if name.lower() in _OWN_HEADERS:
            raise ValueError(f"the {name} header is set by the mailer")
        message[name] = value
    message.set_content(body)
    return message


def sender_domain(sender: str) -> str:
    """``example.org`` for ``Kingdom <kingdom@example.org>``; ``localhost`` without one."""
    _name, address = parseaddr(sender)
    domain = address.rpartition("@")[2]
    return domain or "localhost"
