"""Access control: who may do what to which resource instances.

A :class:`Policy` grants :class:`Permission` flags on a resource, for every
instance (``"*"``) or for named ones. A subject's policies compile into a
compact :class:`PolicyContext` that fits in a token, and :func:`authorize`
turns a context into a decision. Standard library only, so any service can
depend on it.
"""

from kingdom.domain.access.actor import Actor
from kingdom.domain.access.authorize import AccessDenied, ReadScope, authorize
from kingdom.domain.access.context import ENCODING_VERSION, PolicyContext, compile_policies
from kingdom.domain.access.permissions import Permission
from kingdom.domain.access.policy import ALL_INSTANCES, MAX_SELECTOR_LENGTH, Policy

__all__ = [
    "ALL_INSTANCES",
    "ENCODING_VERSION",
    "MAX_SELECTOR_LENGTH",
    "AccessDenied",
    "Actor",
    "Permission",
    "Policy",
    "PolicyContext",
    "ReadScope",
    "authorize",
    "compile_policies",
]
