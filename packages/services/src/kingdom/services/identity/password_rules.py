"""What a new password must look like.

Kept deliberately simple (length only, as NIST SP 800-63B advises): composition
rules make passwords harder to remember, not harder to guess. The upper bound
stops a megabyte "password" from turning one slow hash into a denial of service.
"""

from __future__ import annotations

from typing import Final

from kingdom.domain.shared import Invalid

MIN_PASSWORD_LENGTH: Final = 8
MAX_PASSWORD_LENGTH: Final = 1024


def ensure_acceptable_password(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise Invalid(
            f"a password must have {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
        )
