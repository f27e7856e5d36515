"""Outgoing mail: queued by request handlers in their transaction, sent by a worker."""

from collections.abc import Mapping

from kingdom.domain.identity import (
    PasswordResetRequested,
    RegistrationAttemptedOnTakenAddress,
    UserRegistered,
)
from kingdom.domain.shared import Event
from kingdom.services.injection import Handler
from kingdom.services.mail.handlers import send_mail

HANDLERS: Mapping[type[Event], tuple[Handler, ...]] = {
    # The reset code (kingdom.services.identity.password_reset).
    PasswordResetRequested: (send_mail,),
    # The welcome, and the notice to the owner of a taken address
    # (kingdom.services.identity.registration).
    UserRegistered: (send_mail,),
    RegistrationAttemptedOnTakenAddress: (send_mail,),
}
"""The events whose commit queues a mail under their message id (for the workers)."""

__all__ = ["HANDLERS", "send_mail"]
