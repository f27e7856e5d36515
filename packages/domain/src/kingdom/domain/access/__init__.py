"""Access control: who may do what to which resource instances.

A :class:`Policy` grants :class:`Permission` flags on a resource, for every
instance (``"*"``), for the caller's own (``"@own"``) or for named ones. A
subject's policies compile into a compact :class:`PolicyContext` that fits in
a token, and :func:`authorize` turns a context into a decision (given the
caller and, for ``"@own"``, the instance's owner). Standard library only, so
any service can depend on it.
"""

from kingdom.domain.access.actor import Actor
from kingdom.domain.access.authorize import AccessDenied, ReadScope, authorize, precheck
from kingdom.domain.access.context import (
    DECODABLE_VERSIONS,
    ENCODING_VERSION,
    PolicyContext,
    compile_policies,
)
from kingdom.domain.access.permissions import Permission
from kingdom.domain.access.policy import (
    ALL_INSTANCES,
    MAX_SELECTOR_LENGTH,
    OWN_INSTANCES,
    Policy,
)

__all__ = [
    "ALL_INSTANCES",
    "DECODABLE_VERSIONS",
    "ENCODING_VERSION",
    "MAX_SELECTOR_LENGTH",
    "OWN_INSTANCES",
    "AccessDenied",
    "Actor",
    "Permission",
    "Policy",
    "PolicyContext",
    "ReadScope",
    "authorize",
    "compile_policies",
    "precheck",
]
