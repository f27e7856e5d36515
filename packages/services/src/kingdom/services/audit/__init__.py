"""The audit trail: a readable record of every committed event, written by a worker."""

from collections.abc import Mapping

from kingdom.domain.shared import Event
from kingdom.services.audit.entries import AUDITED, Audited, Description, NotAudited, audit_entry
from kingdom.services.audit.handlers import record_audit
from kingdom.services.injection import Handler

HANDLERS: Mapping[type[Event], tuple[Handler, ...]] = {
    event_class: (record_audit,) for event_class in AUDITED
}
"""The audit handler, subscribed to every audited event class (for the workers)."""

__all__ = [
    "AUDITED",
    "HANDLERS",
    "Audited",
    "Description",
    "NotAudited",
    "audit_entry",
    "record_audit",
]
