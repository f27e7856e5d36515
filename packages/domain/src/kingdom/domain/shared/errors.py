"""Domain errors: a small hierarchy, each class with a stable machine code.

Entrypoints map the code to their own vocabulary (a GraphQL
``extensions.code``, an HTTP status, a CLI exit status); the message is for
humans and may change, the code may not.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    FORBIDDEN = "FORBIDDEN"
    INVALID = "INVALID"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    RATE_LIMITED = "RATE_LIMITED"


class DomainError(Exception):
    """A rule of the domain refused an operation; nothing was changed."""

    code: ErrorCode = ErrorCode.INVALID

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    code = ErrorCode.NOT_FOUND


class Conflict(DomainError):
    """The operation clashes with the current state (duplicate, stale version...)."""

    code = ErrorCode.CONFLICT


class Forbidden(DomainError):
    code = ErrorCode.FORBIDDEN


class Invalid(DomainError):
    """The input breaks a rule of the domain (bad e-mail, negative amount...)."""

    code = ErrorCode.INVALID


class Unauthenticated(DomainError):
    """Credentials are missing, wrong, or belong to an account that may not log in."""

    code = ErrorCode.UNAUTHENTICATED


class RateLimited(DomainError):
    """Too many failed attempts lately: try again in ``retry_after_seconds``.

    Refused before the request is even looked at, so the answer says nothing
    about the credentials (a right password is refused the same way).
    """

    code = ErrorCode.RATE_LIMITED

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"too many failed attempts; try again in {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds
