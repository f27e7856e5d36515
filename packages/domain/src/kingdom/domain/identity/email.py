"""E-mail addresses: one canonical spelling, so uniqueness checks compare like with like.

Deliberately modest: full RFC 5322 validation accepts addresses no mail
server delivers to and rejects none that matter here. The address is proven
by the mail that reaches it, not by this function.
"""

from __future__ import annotations

from kingdom.domain.shared import Invalid

MAX_EMAIL_LENGTH = 254
"""The longest address SMTP can carry (RFC 5321 path limit minus the brackets)."""


def normalise_email(raw: str) -> str:
    """Return ``raw`` stripped and lower-cased, or raise Invalid if it is no address.

    Lower-casing the local part is technically lossy, but no real provider
    treats ``Ann@x.org`` and ``ann@x.org`` as two people, and letting both
    register would be worse.
    """
    email = raw.strip().lower()
    if not email or len(email) > MAX_EMAIL_LENGTH:
        raise Invalid("an e-mail address must have 1 to 254 characters")
    if any(ch.isspace() or not ch.isprintable() for ch in email):
        raise Invalid("an e-mail address cannot contain spaces or control characters")
    local, at, domain = email.partition("@")
    if not at or "@" in domain or not local:
        raise Invalid("an e-mail address needs exactly one '@' after a non-empty name")
    labels = domain.split(".")
    if len(labels) < 2 or not all(labels):
        raise Invalid("an e-mail address needs a domain such as example.org")
    return email
