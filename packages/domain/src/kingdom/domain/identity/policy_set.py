"""Attaching and detaching policies, shared by users and roles.

Both keep their directly attached policies in a plain ``set[Policy]``; the
rules for changing it (and the events that report the change) are the same,
so they live once, here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from kingdom.domain.access import Policy
from kingdom.domain.identity.events import PoliciesAttached, PoliciesDetached, PolicySubject
from kingdom.domain.shared import Aggregate, Conflict, Invalid, MessageMeta, NotFound


def sorted_policies(policies: Iterable[Policy]) -> tuple[Policy, ...]:
    """The policies as a tuple in a stable order, so events compare and serialise reproducibly."""
    return tuple(sorted(set(policies), key=lambda policy: policy.sort_key))


class PolicyHolder(Aggregate):
    """An aggregate with directly attached policies (a user or a role).

    The set is replaced, never mutated in place: an ORM notices a new value
    assigned to an attribute, but not an element added to the old one.
    """

    subject: ClassVar[PolicySubject]
    policies: set[Policy]

    def attach_policies(self, policies: Iterable[Policy], meta: MessageMeta) -> None:
        """Attach ``policies``; those already attached are skipped, and if all are -> Conflict."""
        wanted = _non_empty(policies)
        new = wanted - self.policies
        if not new:
            raise Conflict(f"these policies are already attached to {self.subject} {self.id!r}")
        self.policies = self.policies | new
        self._record(
            PoliciesAttached(
                meta=meta,
                subject=self.subject,
                subject_id=self.id,
                policies=sorted_policies(new),
            )
        )

    def detach_policies(self, policies: Iterable[Policy], meta: MessageMeta) -> None:
        """Detach ``policies``, all or none: any that is not attached -> NotFound."""
        unwanted = _non_empty(policies)
        if not unwanted <= self.policies:
            raise NotFound(f"some of these policies are not attached to {self.subject} {self.id!r}")
        self.policies = self.policies - unwanted
        self._record(
            PoliciesDetached(
                meta=meta,
                subject=self.subject,
                subject_id=self.id,
                policies=sorted_policies(unwanted),
            )
        )


def _non_empty(policies: Iterable[Policy]) -> frozenset[Policy]:
    given = frozenset(policies)
    if not given:
        raise Invalid("name at least one policy")
    return given
