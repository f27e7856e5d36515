"""``AuditFilter`` input in, the query port's :class:`AuditFilter` out, or ``Invalid``.

Clients hold global ids, so ``subjectId`` and ``actorId`` are global ids,
decoded to what the trail stores (a subject's kind and raw id, a user's raw
id). Event types are checked against the names the trail records, so a typo
is refused rather than answered with an empty page that looks like "nothing
happened". Times need their offset: ``2024-05-01T12:00:00`` could be any of
twenty-odd instants, and guessing one would silently shift the window.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from kingdom.domain.shared import Invalid
from kingdom.entrypoints.graphql import global_ids
from kingdom.services.audit.entries import AUDITED
from kingdom.services.ports.audit_queries import AuditFilter, AuditSubject

EVENT_TYPES: Final = frozenset(audited.name for audited in AUDITED.values())
"""Every event type the trail records (``ledger.TransferCompleted``...)."""

NODE_TYPE_OF_SUBJECT: Final[Mapping[str, str]] = {
    "user": "User",
    "role": "Role",
    "account": "Account",
    "transfer": "Transfer",
}
"""The Node type of each subject kind that is one (so its id is shown as a global id)."""

FILTERABLE_SUBJECTS: Final = ("User", "Role", "Account")
"""The Node types entries are about today. A transfer is recorded under its
source account (``ledger.TransferCompleted``), so a Transfer id is refused
with that hint rather than answered with nothing."""

MAX_MOMENT_LENGTH: Final = 64
"""Longer than any ISO 8601 instant: refused before parsing."""


def audit_filter(given: Mapping[str, Any] | None) -> AuditFilter:
    """The filter an ``AuditFilter`` input (snake_case keys, as ariadne passes them) asks for."""
    if not given:
        return AuditFilter()
    subject, actor, types = given.get("subject_id"), given.get("actor_id"), given.get("types")
    since, until = given.get("since"), given.get("until")
    return AuditFilter(
        subject=None if subject is None else subject_of(subject),
        actor_id=None if actor is None else global_ids.decode_as(actor, "User"),
        event_types=None if types is None else event_types(types),
        since=None if since is None else moment("since", since),
        until=None if until is None else moment("until", until),
    )


def subject_of(global_id: object) -> AuditSubject:
    """The subject a User, Role or Account global id names, as the trail stores it."""
    type_name, id = global_ids.decode(global_id)
    if type_name == "Transfer":
        raise Invalid("a transfer is recorded under its source account: filter by that account")
    if type_name not in FILTERABLE_SUBJECTS:
        raise Invalid(f"entries are about a User, a Role or an Account, not an {type_name}")
    kind = next(kind for kind, node in NODE_TYPE_OF_SUBJECT.items() if node == type_name)
    return AuditSubject(kind, id)


def event_types(given: object) -> frozenset[str]:
    """The distinct event types named, each one the trail records."""
    if not isinstance(given, list | tuple) or not all(isinstance(name, str) for name in given):
        raise Invalid("'types' is a list of event type names")
    unknown = sorted(set(given) - EVENT_TYPES)
    if unknown:
        raise Invalid(
            f"unknown event type {unknown[0]!r}; the trail records: {', '.join(sorted(EVENT_TYPES))}"
        )
    return frozenset(given)


def moment(name: str, given: object) -> datetime:
    """An ISO 8601 instant with its offset (``Z`` or ``+02:00``), in UTC."""
    problem = (
        f"'{name}' must be an ISO 8601 date and time with an offset, e.g. 2024-05-01T12:00:00Z"
    )
    if not isinstance(given, str) or len(given) > MAX_MOMENT_LENGTH:
        raise Invalid(problem)
    try:
        parsed = datetime.fromisoformat(given)
    except ValueError:
        raise Invalid(problem) from None
    if parsed.utcoffset() is None:
        raise Invalid(problem)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 lies before datetime.min
        raise Invalid(f"'{name}' is out of range") from None
