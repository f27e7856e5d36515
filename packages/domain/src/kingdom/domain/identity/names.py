"""Human-readable names (display names, role names): trimmed, bounded, printable."""

from __future__ import annotations

from kingdom.domain.shared import Invalid

MAX_NAME_LENGTH = 100


def clean_name(raw: str, what: str) -> str:
    """Return ``raw`` stripped, or raise Invalid naming ``what`` if it is empty or too long.

    Control characters are refused because names end up in e-mails, logs and
    HTML, where a stray newline or escape sequence is a small injection.
    """
    name = raw.strip()
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise Invalid(f"a {what} must have 1 to {MAX_NAME_LENGTH} characters")
    if not name.isprintable():
        raise Invalid(f"a {what} cannot contain control characters")
    return name
