"""The embedded default's mailer: each message becomes a file in a folder.

With no ``KINGDOM_SMTP_URL``, outgoing mail (password-reset codes) is
written to ``<data dir>/mail/`` as RFC 5322 ``.eml`` files, so a developer
can open them. Files are written whole (temp file + rename), so a reader
never sees half a message, and readable by their owner only: they may hold
a one-time secret. Nothing deletes them; that is the developer's folder.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from kingdom.adapters.messaging.mail_message import compose
from kingdom.services.ports import Mailer

DEFAULT_SENDER = "kingdom@localhost"


class MailFolder(Mailer):
    def __init__(self, directory: Path, *, sender: str = DEFAULT_SENDER) -> None:
        self.directory = directory
        self.sender = sender

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
        await asyncio.to_thread(self._write, message.as_bytes())

    def _write(self, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.eml"
        temporary = self.directory / f".{name}.tmp"
        # The body may carry a one-time secret: readable by the owner only.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        temporary.rename(self.directory / name)
