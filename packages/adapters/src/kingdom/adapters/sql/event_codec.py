"""Explicit, versioned JSON serialisation of domain events (for the outbox and the relay).

Every event type is registered under a *stable name* and a *schema version*.
The name is chosen here, not derived from the Python module path, so moving
or renaming a class never orphans stored rows; the version lets a payload
written by older code be upgraded (an *upcaster* per old version) instead of
misread. Unknown names or versions are an error (:class:`UnknownEvent`), never
a guess, and nothing is ever unpickled.

A payload is a JSON object with one key per dataclass field, including
``meta`` (``{"message_id", "occurred_at"}``), so ``decode`` needs nothing but
the stored row. Values are encoded by the field's declared type:

* ``datetime`` → ISO-8601 text with its offset (must be timezone-aware);
* ``Policy`` → ``{"resource", "permissions": int, "selectors": [sorted]}``;
* ``tuple[X, ...]`` → a JSON list;
* ``str``, ``int``, ``bool`` and ``Literal[...]`` as themselves (checked on decode).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args, get_origin

from kingdom.adapters.sql.policies import decode_policy, encode_policy
from kingdom.domain.access import Policy
from kingdom.domain.identity import events as identity
from kingdom.domain.ledger import events as ledger
from kingdom.domain.shared import DomainError, Event, MessageMeta

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]


class EventCodecError(ValueError):
    """An event or payload cannot be encoded or decoded."""


class UnknownEvent(EventCodecError):
    """No registered event type has this name, class or schema version."""


@dataclass(frozen=True)
class EventSchema:
    """How one event class is stored: its stable name, current version and upgrades.

    ``upcasters[v]`` turns a version-``v`` payload into a version ``v + 1`` one.
    """

    name: str
    cls: type[Event]
    version: int = 1
    upcasters: Mapping[int, Upcaster] = field(default_factory=dict)


class EventCodec:
    """A registry of event schemas with ``encode``/``decode`` over it."""

    def __init__(self, schemas: Iterable[EventSchema]) -> None:
        self._by_name: dict[str, EventSchema] = {}
        self._by_class: dict[type[Event], EventSchema] = {}
        for schema in schemas:
            if schema.name in self._by_name or schema.cls in self._by_class:
                raise ValueError(f"event {schema.name!r} / {schema.cls.__name__} registered twice")
            missing = set(range(1, schema.version)) - set(schema.upcasters)
            if missing:
                raise ValueError(f"event {schema.name!r} lacks upcasters from versions {missing}")
            self._by_name[schema.name] = schema
            self._by_class[schema.cls] = schema

    @property
    def schemas(self) -> tuple[EventSchema, ...]:
        return tuple(self._by_name.values())

    def encode(self, event: Event) -> tuple[str, int, Payload]:
        """``(type name, schema version, JSON-safe payload)`` for ``event``."""
        schema = self._by_class.get(type(event))
        if schema is None:
            raise UnknownEvent(f"no schema registered for event class {type(event).__qualname__}")
        hints = _hints(schema.cls)
        payload = {
            f.name: _encode(hints[f.name], getattr(event, f.name), f.name)
            for f in dataclasses.fields(event)
        }
        return schema.name, schema.version, payload

    def decode(self, type_name: str, version: int, payload: Mapping[str, Any]) -> Event:
        """The event stored as ``payload`` under ``type_name`` at schema ``version``."""
        schema = self._by_name.get(type_name)
        if schema is None:
            raise UnknownEvent(f"unknown event type {type_name!r}")
        if not isinstance(version, int) or not 1 <= version <= schema.version:
            raise UnknownEvent(
                f"event {type_name!r} has no schema version {version!r} "
                f"(known: 1..{schema.version})"
            )
        if not isinstance(payload, Mapping):
            raise EventCodecError(f"event {type_name!r}: payload must be an object")
        data = dict(payload)
        for old in range(version, schema.version):
            data = schema.upcasters[old](data)
        hints = _hints(schema.cls)
        names = {f.name for f in dataclasses.fields(schema.cls)}
        if set(data) != names:
            raise EventCodecError(
                f"event {type_name!r} v{schema.version}: expected fields {sorted(names)}, "
                f"got {sorted(data)}"
            )
        try:
            values = {name: _decode(hints[name], data[name], name) for name in names}
            return schema.cls(**values)
        except EventCodecError:
            raise
        except (TypeError, ValueError, DomainError) as error:  # e.g. the domain's validation
            raise EventCodecError(f"event {type_name!r}: {error}") from error


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    # Events use `from __future__ import annotations`: resolve the strings,
    # once per class (resolving is slow and the answer never changes).
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _encode(hint: Any, value: Any, where: str) -> Any:
    if hint is MessageMeta:
        return {
            "message_id": value.message_id,
            "occurred_at": _encode(datetime, value.occurred_at, where),
        }
    if hint is datetime:
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise EventCodecError(f"{where}: expected an aware datetime, got {value!r}")
        return value.isoformat()
    if hint is Policy:
        return encode_policy(value)
    if get_origin(hint) is tuple:
        item, _ellipsis = get_args(hint)
        return [_encode(item, element, where) for element in value]
    if hint in (str, int, bool) or get_origin(hint) is Literal:
        return value
    raise EventCodecError(f"{where}: no JSON encoding for fields of type {hint!r}")


def _decode(hint: Any, value: Any, where: str) -> Any:
    if hint is MessageMeta:
        if not isinstance(value, Mapping) or set(value) != {"message_id", "occurred_at"}:
            raise EventCodecError(f"{where}: expected {{message_id, occurred_at}}, got {value!r}")
        return MessageMeta(
            message_id=_decode(str, value["message_id"], where),
            occurred_at=_decode(datetime, value["occurred_at"], where),
        )
    if hint is datetime:
        if not isinstance(value, str):
            raise EventCodecError(f"{where}: expected ISO-8601 text, got {value!r}")
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise EventCodecError(f"{where}: datetime {value!r} has no offset")
        return parsed
    if hint is Policy:
        return decode_policy(value)
    if get_origin(hint) is tuple:
        if not isinstance(value, list):
            raise EventCodecError(f"{where}: expected a list, got {value!r}")
        item, _ellipsis = get_args(hint)
        return tuple(_decode(item, element, where) for element in value)
    if get_origin(hint) is Literal:
        if value not in get_args(hint):
            raise EventCodecError(f"{where}: {value!r} is not one of {get_args(hint)}")
        return value
    if hint in (str, int, bool):
        # bool is an int: refuse it where an int is expected, and vice versa.
        if type(value) is not hint:
            raise EventCodecError(f"{where}: expected {hint.__name__}, got {value!r}")
        return value
    raise EventCodecError(f"{where}: no JSON decoding for fields of type {hint!r}")


EVENTS = EventCodec(
    [
        EventSchema(
            "identity.UserRegistered",
            identity.UserRegistered,
            version=2,
            # Version 2 added the policies a user starts with; before, none.
            upcasters={1: lambda payload: {**payload, "policies": []}},
        ),
        EventSchema("identity.PasswordChanged", identity.PasswordChanged),
        EventSchema("identity.PasswordResetRequested", identity.PasswordResetRequested),
        EventSchema("identity.RoleCreated", identity.RoleCreated),
        EventSchema("identity.PoliciesAttached", identity.PoliciesAttached),
        EventSchema("identity.PoliciesDetached", identity.PoliciesDetached),
        EventSchema("identity.RoleAssigned", identity.RoleAssigned),
        EventSchema("identity.RoleRevoked", identity.RoleRevoked),
        EventSchema("identity.UserDisabled", identity.UserDisabled),
        EventSchema("identity.RefreshTokenReuseDetected", identity.RefreshTokenReuseDetected),
        EventSchema(
            "identity.RegistrationAttemptedOnTakenAddress",
            identity.RegistrationAttemptedOnTakenAddress,
            version=1,
        ),
        EventSchema("ledger.AccountOpened", ledger.AccountOpened),
        EventSchema("ledger.FundsDeposited", ledger.FundsDeposited),
        EventSchema("ledger.FundsWithdrawn", ledger.FundsWithdrawn),
        EventSchema("ledger.TransferCompleted", ledger.TransferCompleted),
        EventSchema("ledger.AccountClosed", ledger.AccountClosed),
    ]
)
"""Every event Kingdom stores. Adding an event type means adding a line here;
changing an event's fields means bumping its version and adding an upcaster."""

encode = EVENTS.encode
decode = EVENTS.decode
