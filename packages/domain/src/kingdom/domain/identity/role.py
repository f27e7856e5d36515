"""Roles: named bundles of policies that users are assigned.

A role's id *is* its code: codes are chosen by people, appear in
configuration and tokens, and never change, so a second surrogate id would
only add a lookup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from kingdom.domain.access import Policy
from kingdom.domain.identity.events import RoleCreated
from kingdom.domain.identity.names import clean_name
from kingdom.domain.identity.policy_set import PolicyHolder, sorted_policies
from kingdom.domain.shared import Invalid, MessageMeta

_ROLE_CODE = re.compile(r"[a-z][a-z0-9_.-]{1,63}")


def ensure_role_code(code: str) -> str:
    """Return ``code`` if it is 2-64 chars of ``a-z0-9_.-`` starting with a letter."""
    if not isinstance(code, str) or _ROLE_CODE.fullmatch(code) is None:
        raise Invalid(
            "a role code must be 2 to 64 characters of a-z, 0-9, '_', '.', '-', "
            "starting with a letter"
        )
    return code


class Role(PolicyHolder):
    subject = "role"

    name: str

    def __init__(
        self, *, code: str, name: str, policies: Iterable[Policy] = (), version: int = 0
    ) -> None:
        """Rebuild a role as stored; records nothing (use :meth:`create` for a new one)."""
        super().__init__(code, version)
        self.name = name
        self.policies = set(policies)

    @property
    def code(self) -> str:
        return self.id

    @classmethod
    def create(cls, *, code: str, name: str, policies: Iterable[Policy], meta: MessageMeta) -> Role:
        """Create a role (possibly with no policies yet) and record :class:`RoleCreated`."""
        role = cls(
            code=ensure_role_code(code), name=clean_name(name, "role name"), policies=policies
        )
        role._record(
            RoleCreated(
                meta=meta,
                role_code=role.code,
                name=role.name,
                policies=sorted_policies(role.policies),
            )
        )
        return role
