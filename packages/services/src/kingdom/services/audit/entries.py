"""What the audit trail says about each event: its subject, related ids and a summary.

One table (:data:`AUDITED`) maps every audited event class to its stable name
and a small function describing it, so adding an event type means adding a
line here (a test fails until every event the codec stores is audited or
named, with its reason, as not audited).

The names are the event codec's (:mod:`kingdom.adapters.sql.event_codec`),
repeated here because the services ring cannot import the adapters; a test
checks that the two agree.

Summaries are short text for people. Events carry no secrets (no password,
hash or token secret), and the functions below name records by id only: a
password reset names the user, never the token, and token versions are
numbers, not tokens. The actor is the ``actor_id`` field of an event that
has one; none does yet, so it stays empty until events say who acted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from kingdom.domain.access import Policy
from kingdom.domain.identity import events as identity
from kingdom.domain.ledger import events as ledger
from kingdom.domain.shared import Event
from kingdom.services.causation import well_formed_request_id
from kingdom.services.ports.audit import AuditEntry

MAX_SUMMARY_LENGTH: Final = 200
MAX_TRACE_PARENT_LENGTH: Final = 100
"""A W3C ``traceparent`` is 55 characters; anything much longer is not one."""


@dataclass(frozen=True)
class Description:
    """What an event is about, as the audit trail records it."""

    subject_type: str
    subject_id: str
    summary: str
    related_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Audited:
    """How one event class is audited: its stable name and its describing function."""

    name: str
    describe: Callable[[Any], Description]


def _policies(policies: Iterable[Policy]) -> str:
    """``accounts:read+update on *; users:read on @own``, or ``no policies``."""
    described = [
        f"{policy.resource}:"
        + "+".join(str(flag.name).lower() for flag in policy.permissions)
        + " on "
        + ", ".join(sorted(policy.selectors))
        for policy in sorted(policies, key=lambda policy: policy.sort_key)
    ]
    return "; ".join(described) or "no policies"


def _user_registered(event: identity.UserRegistered) -> Description:
    return Description(
        "user",
        event.user_id,
        f"registered user {event.user_id} <{event.email}> with {_policies(event.policies)}",
    )


def _password_changed(event: identity.PasswordChanged) -> Description:
    return Description(
        "user",
        event.user_id,
        f"changed the password of user {event.user_id}; "
        f"tokens before version {event.token_version} are void",
    )


def _password_reset_requested(event: identity.PasswordResetRequested) -> Description:
    # The token's id is left out on purpose: only the user and the expiry.
    expires = event.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return Description(
        "user",
        event.user_id,
        f"requested a password reset for user {event.user_id}; the code expires {expires}",
    )


def _refresh_token_reuse_detected(event: identity.RefreshTokenReuseDetected) -> Description:
    return Description(
        "user",
        event.user_id,
        f"a rotated refresh token of user {event.user_id} came back; "
        f"its session {event.session_id} was revoked",
        (event.session_id,),
    )


def _role_created(event: identity.RoleCreated) -> Description:
    return Description(
        "role",
        event.role_code,
        f"created role {event.role_code} ({event.name}) with {_policies(event.policies)}",
    )


def _policies_attached(event: identity.PoliciesAttached) -> Description:
    return Description(
        event.subject,
        event.subject_id,
        f"attached {_policies(event.policies)} to {event.subject} {event.subject_id}",
    )


def _policies_detached(event: identity.PoliciesDetached) -> Description:
    return Description(
        event.subject,
        event.subject_id,
        f"detached {_policies(event.policies)} from {event.subject} {event.subject_id}",
    )


def _role_assigned(event: identity.RoleAssigned) -> Description:
    return Description(
        "user",
        event.user_id,
        f"assigned role {event.role_code} to user {event.user_id}",
        (event.role_code,),
    )


def _role_revoked(event: identity.RoleRevoked) -> Description:
    return Description(
        "user",
        event.user_id,
        f"revoked role {event.role_code} from user {event.user_id}",
        (event.role_code,),
    )


def _user_disabled(event: identity.UserDisabled) -> Description:
    return Description("user", event.user_id, f"disabled user {event.user_id}")


def _account_opened(event: ledger.AccountOpened) -> Description:
    return Description(
        "account",
        event.account_id,
        f"opened account {event.account_id} in {event.currency} for user {event.owner_id}",
        (event.owner_id,),
    )


def _funds_deposited(event: ledger.FundsDeposited) -> Description:
    return Description(
        "account",
        event.account_id,
        f"deposited {event.amount} into {event.account_id}; balance {event.balance}",
    )


def _funds_withdrawn(event: ledger.FundsWithdrawn) -> Description:
    return Description(
        "account",
        event.account_id,
        f"withdrew {event.amount} from {event.account_id}; balance {event.balance}",
    )


def _transfer_completed(event: ledger.TransferCompleted) -> Description:
    # The source records the transfer (one event per transfer): it is the subject.
    return Description(
        "account",
        event.source_id,
        f"transferred {event.amount} from {event.source_id} to {event.target_id} "
        f"({event.currency})",
        (event.target_id, event.transfer_id),
    )


def _account_closed(event: ledger.AccountClosed) -> Description:
    return Description("account", event.account_id, f"closed account {event.account_id}")


AUDITED: Mapping[type[Event], Audited] = {
    identity.UserRegistered: Audited("identity.UserRegistered", _user_registered),
    identity.PasswordChanged: Audited("identity.PasswordChanged", _password_changed),
    identity.PasswordResetRequested: Audited(
        "identity.PasswordResetRequested", _password_reset_requested
    ),
    identity.RoleCreated: Audited("identity.RoleCreated", _role_created),
    identity.PoliciesAttached: Audited("identity.PoliciesAttached", _policies_attached),
    identity.PoliciesDetached: Audited("identity.PoliciesDetached", _policies_detached),
    identity.RoleAssigned: Audited("identity.RoleAssigned", _role_assigned),
    identity.RoleRevoked: Audited("identity.RoleRevoked", _role_revoked),
    identity.UserDisabled: Audited("identity.UserDisabled", _user_disabled),
    identity.RefreshTokenReuseDetected: Audited(
        "identity.RefreshTokenReuseDetected", _refresh_token_reuse_detected
    ),
    ledger.AccountOpened: Audited("ledger.AccountOpened", _account_opened),
    ledger.FundsDeposited: Audited("ledger.FundsDeposited", _funds_deposited),
    ledger.FundsWithdrawn: Audited("ledger.FundsWithdrawn", _funds_withdrawn),
    ledger.TransferCompleted: Audited("ledger.TransferCompleted", _transfer_completed),
    ledger.AccountClosed: Audited("ledger.AccountClosed", _account_closed),
}
"""Every audited event class: its stable name and how to describe it."""


class NotAudited(LookupError):
    """An event class the audit trail does not describe (a wiring mistake)."""


def audit_entry(
    event: Event,
    *,
    recorded_at: datetime,
    trace_parent: str | None = None,
    actor_id: str | None = None,
    request_id: str | None = None,
    table: Mapping[type[Event], Audited] = AUDITED,
) -> AuditEntry:
    """The audit trail's entry for ``event``, recorded at ``recorded_at``.

    ``actor_id``: who committed it (events name no actor; the delivery does).
    ``request_id``: the request that committed it, kept only if it looks like
    a request id (it came with the message, from outside).

    Looked up by the event's exact class: a subclass has a name of its own.
    """
    audited = table.get(type(event))
    if audited is None:
        raise NotAudited(f"the audit trail does not describe {type(event).__qualname__}")
    description = audited.describe(event)
    actor = getattr(event, "actor_id", None) or actor_id
    return AuditEntry(
        message_id=event.message_id,
        event_type=audited.name,
        occurred_at=event.occurred_at,
        recorded_at=recorded_at,
        subject_type=description.subject_type,
        subject_id=description.subject_id,
        summary=_shortened(description.summary),
        actor_id=actor if isinstance(actor, str) and actor else None,
        related_ids=description.related_ids,
        trace_parent=_trace_parent(trace_parent),
        request_id=well_formed_request_id(request_id),
    )


def _shortened(summary: str) -> str:
    # Policies listed in full can run long; the event itself keeps every detail.
    if len(summary) <= MAX_SUMMARY_LENGTH:
        return summary
    return summary[: MAX_SUMMARY_LENGTH - 1] + "…"


def _trace_parent(value: str | None) -> str | None:
    # It comes from outside (a message attribute): keep it only if it can be one.
    if value and len(value) <= MAX_TRACE_PARENT_LENGTH and value.isprintable():
        return value
    return None
