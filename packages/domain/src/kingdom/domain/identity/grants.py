"""The rule against privilege escalation: you can only give what you have.

Without it, anyone allowed to edit roles or policies could write themselves
(or an accomplice) any permission at all.
"""

from __future__ import annotations

from collections.abc import Iterable

from kingdom.domain.access import Policy, PolicyContext
from kingdom.domain.identity.errors import PrivilegeEscalation


def ensure_can_grant(grantor: PolicyContext, policies: Iterable[Policy]) -> None:
    """Raise :class:`PrivilegeEscalation` unless ``grantor`` covers every policy in full."""
    missing = [policy for policy in policies if not grantor.covers(policy)]
    if missing:
        raise PrivilegeEscalation(missing)
