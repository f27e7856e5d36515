"""The embedded default's mailer: each message becomes a file in a folder.

Until a real mail transport is configured, outgoing mail (password reset
links) is written to ``<data dir>/mail/`` as RFC 5322 ``.eml`` files, so a
developer can open them. Files are written whole (temp file + rename), so a
reader never sees half a message.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from kingdom.services.ports import Mailer


class MailFolder(Mailer):
    def __init__(self, directory: Path, *, sender: str = "kingdom@localhost") -> None:
        self.directory = directory
        self.sender = sender

    async def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
        message.set_content(body)
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
