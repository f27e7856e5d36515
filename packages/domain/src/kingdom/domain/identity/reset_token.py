"""One-time password reset tokens.

Only a hash of the secret is stored (like a password: a leaked table must not
let anyone reset accounts). A plain record rather than an aggregate: it emits
no events and nothing else refers to it. ``issued_at`` paces the mails: a user
gets at most one code per interval (see
:func:`kingdom.services.identity.password_reset.request_password_reset`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kingdom.domain.identity.errors import ResetTokenExpired, ResetTokenUsed


@dataclass
class ResetToken:
    id: str
    user_id: str
    token_hash: str
    expires_at: datetime
    issued_at: datetime
    used_at: datetime | None = None

    def is_usable(self, now: datetime) -> bool:
        return self.used_at is None and now < self.expires_at

    def redeem(self, now: datetime) -> None:
        """Mark the token used at ``now``; raise Invalid if it was used or has expired.

        "Used" is checked first: telling someone replaying a link that it was
        already used is more useful than saying it has since expired.
        """
        if self.used_at is not None:
            raise ResetTokenUsed()
        if now >= self.expires_at:
            raise ResetTokenExpired()
        self.used_at = now

    def void(self, now: datetime) -> None:
        """Make the token unusable from ``now`` on (its user's password changed meanwhile).

        Stamped as used: to whoever presents it, a voided code and a used one
        are the same thing ("ask for a new one"), so one column says both. A
        token already used keeps the time it was used.
        """
        if self.used_at is None:
            self.used_at = now
