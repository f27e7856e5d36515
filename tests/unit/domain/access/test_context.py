import json
import uuid

import pytest

from kingdom.domain.access import (
    ENCODING_VERSION,
    OWN_INSTANCES,
    Permission,
    Policy,
    PolicyContext,
    compile_policies,
)
from kingdom.domain.shared import Invalid

READ, CREATE, UPDATE, DELETE = (
    Permission.READ,
    Permission.CREATE,
    Permission.UPDATE,
    Permission.DELETE,
)
OWN = OWN_INSTANCES


def test_compile_merges_duplicates_and_overlaps() -> None:
    context = compile_policies(
        [
            Policy.of("accounts", READ, "a1"),
            Policy.of("accounts", UPDATE, "a1", "a2"),
            Policy.of("accounts", READ, "a1"),
        ]
    )
    assert context.encode() == {"v": 2, "p": {"accounts": {"a1": 5, "a2": 4}}}


def test_compile_drops_what_the_wildcard_already_grants() -> None:
    context = compile_policies(
        [
            Policy.of("accounts", READ),
            Policy.of("accounts", READ, "a1"),  # fully covered: dropped
            Policy.of("accounts", READ | UPDATE, "a2"),  # only UPDATE remains
        ]
    )
    assert context.encode()["p"] == {"accounts": {"*": 1, "a2": 4}}


def test_empty_context_grants_nothing() -> None:
    empty = PolicyContext.empty()
    assert empty == compile_policies([]) == PolicyContext()
    assert empty.encode() == {"v": ENCODING_VERSION, "p": {}}
    assert empty.permissions_for("accounts") == Permission.NONE
    assert empty.policies() == ()


def test_permissions_for_adds_the_instance_grant_to_the_wildcard() -> None:
    context = compile_policies([Policy.of("users", READ), Policy.of("users", UPDATE, "u1")])
    assert context.permissions_for("users", "u1") == READ | UPDATE
    assert context.permissions_for("users", "u2") == READ
    assert context.permissions_for("users") == READ
    assert context.permissions_for("users", "*") == READ
    assert context.permissions_for("roles", "u1") == Permission.NONE


def test_instances_with_lists_individually_granted_ids() -> None:
    context = compile_policies(
        [
            Policy.of("users", UPDATE),
            Policy.of("users", READ, "u1", "u2"),
            Policy.of("users", DELETE, "u2"),
        ]
    )
    assert context.instances_with("users", READ) == {"u1", "u2"}
    assert context.instances_with("users", DELETE) == {"u2"}
    assert context.instances_with("users", READ | UPDATE) == {"u1", "u2"}
    assert context.instances_with("users", CREATE) == frozenset()
    assert context.instances_with("roles", READ) == frozenset()


def test_covers_requires_every_permission_on_every_selector() -> None:
    context = compile_policies(
        [Policy.of("accounts", READ), Policy.of("accounts", UPDATE | DELETE, "a1")]
    )
    assert context.covers(Policy.of("accounts", READ))
    assert context.covers(Policy.of("accounts", READ, "a1", "a9"))
    assert context.covers(Policy.of("accounts", READ | UPDATE | DELETE, "a1"))
    assert not context.covers(Policy.of("accounts", READ | UPDATE, "a1", "a2"))
    assert not context.covers(Policy.of("accounts", UPDATE))
    assert not context.covers(Policy.of("users", READ))


def test_holding_every_instance_does_not_cover_the_wildcard() -> None:
    context = compile_policies([Policy.of("accounts", READ, "a1", "a2")])
    assert not context.covers(Policy.of("accounts", READ))


def test_policies_groups_selectors_with_equal_flags() -> None:
    context = compile_policies(
        [
            Policy.of("users", READ),
            Policy.of("users", UPDATE, "u1", "u2"),
            Policy.of("users", UPDATE | DELETE, "u3"),
            Policy.of("accounts", Permission.ALL, "a1"),
        ]
    )
    assert context.policies() == (
        Policy.of("accounts", Permission.ALL, "a1"),
        Policy.of("users", READ),
        Policy.of("users", UPDATE, "u1", "u2"),
        Policy.of("users", UPDATE | DELETE, "u3"),
    )
    assert compile_policies(context.policies()) == context


def test_contexts_compare_and_hash_by_value() -> None:
    a = compile_policies([Policy.of("users", READ, "u1"), Policy.of("users", READ, "u2")])
    b = compile_policies([Policy.of("users", READ, "u2", "u1")])
    assert a == b
    assert hash(a) == hash(b)
    assert a != compile_policies([Policy.of("users", READ, "u1")])
    assert a != a.encode()


def test_contexts_are_immutable() -> None:
    context = PolicyContext.empty()
    with pytest.raises(AttributeError):
        context._grants = {}
    with pytest.raises(AttributeError):
        context.anything = 1


def test_repr_shows_the_grants() -> None:
    context = compile_policies([Policy.of("users", READ)])
    assert repr(context) == "PolicyContext({'users': {'*': 1}})"


def test_encoding_is_canonical_whatever_the_policy_order() -> None:
    policies = [
        Policy.of("users", READ, "u2"),
        Policy.of("accounts", UPDATE),
        Policy.of("users", READ, "u1"),
    ]
    forward = json.dumps(compile_policies(policies).encode())
    backward = json.dumps(compile_policies(reversed(policies)).encode())
    assert (
        forward == backward == '{"v": 2, "p": {"accounts": {"*": 4}, "users": {"u1": 1, "u2": 1}}}'
    )


def test_decode_round_trips_through_json() -> None:
    context = compile_policies([Policy.of("users", READ), Policy.of("accounts", UPDATE, "a1")])
    assert PolicyContext.decode(json.loads(json.dumps(context.encode()))) == context


def test_decode_compacts_non_canonical_input() -> None:
    decoded = PolicyContext.decode({"v": 2, "p": {"users": {"u1": 3, "*": 1}, "roles": {}}})
    assert decoded.encode() == {"v": 2, "p": {"users": {"*": 1, "u1": 2}}}


def test_version_1_still_decodes_and_is_rewritten_as_version_2() -> None:
    # Tokens issued before ownership existed stay valid until they expire.
    decoded = PolicyContext.decode({"v": 1, "p": {"users": {"u1": 3, "*": 1}}})
    assert decoded == compile_policies(
        [Policy.of("users", READ), Policy.of("users", READ | CREATE, "u1")]
    )
    assert decoded.encode()["v"] == ENCODING_VERSION == 2


def test_own_grants_encode_under_their_keyword_and_compact_under_everything() -> None:
    context = compile_policies(
        [Policy.of("accounts", Permission.ALL, OWN), Policy.of("accounts", READ | CREATE)]
    )
    assert context.encode() == {"v": 2, "p": {"accounts": {"*": 3, OWN: 12}}}
    assert PolicyContext.decode(context.encode()) == context


def test_permissions_for_adds_own_grants_only_for_owned_instances() -> None:
    context = compile_policies(
        [Policy.of("accounts", UPDATE | DELETE, OWN), Policy.of("accounts", READ, "a1")]
    )
    assert context.permissions_for("accounts", "a1") == READ
    assert context.permissions_for("accounts", "a1", owned=True) == READ | UPDATE | DELETE
    assert context.permissions_for("accounts", owned=True) == UPDATE | DELETE
    assert context.permissions_for("accounts", OWN) == UPDATE | DELETE
    assert context.instances_with("accounts", READ) == {"a1"}  # "@own" is not an id


def test_own_is_covered_by_own_or_everything_but_covers_no_id() -> None:
    own = compile_policies([Policy.of("accounts", READ | UPDATE, OWN)])
    everything = compile_policies([Policy.of("accounts", READ | UPDATE)])
    assert own.covers(Policy.of("accounts", READ, OWN))
    assert everything.covers(Policy.of("accounts", READ, OWN))
    assert not own.covers(Policy.of("accounts", READ, "a1"))
    assert not own.covers(Policy.of("accounts", READ))
    assert not own.covers(Policy.of("accounts", DELETE, OWN))


def test_a_token_sized_context_stays_under_a_kilobyte() -> None:
    # Three resources open to everything, plus twenty accounts by UUID: a
    # generous real-world grant must still fit comfortably in a JWT claim.
    context = compile_policies(
        [
            Policy.of("users", Permission.ALL),
            Policy.of("roles", Permission.ALL),
            Policy.of("transfers", READ),
            Policy.of("accounts", READ | UPDATE, *(str(uuid.uuid4()) for _ in range(20))),
        ]
    )
    encoded = json.dumps(context.encode(), separators=(",", ":"))
    assert len(encoded.encode()) < 1024


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (None, "mapping"),
        ([], "mapping"),
        ("{}", "mapping"),
        ({}, "mapping"),
        ({"v": 1}, "mapping"),
        ({"v": 1, "p": {}, "x": 0}, "mapping"),
        ({"v": 3, "p": {}}, "version"),
        ({"v": 0, "p": {}}, "version"),
        ({"v": "1", "p": {}}, "version"),
        ({"v": True, "p": {}}, "version"),
        ({"v": 1.0, "p": {}}, "version"),
        ({"v": 1, "p": []}, "mapping of resources"),
        ({"v": 1, "p": {"Users": {"*": 1}}}, "resource"),
        ({"v": 1, "p": {1: {"*": 1}}}, "resource"),
        ({"v": 1, "p": {"users": [["*", 1]]}}, "mapping of selectors"),
        ({"v": 1, "p": {"users": {"*": 0}}}, "permissions"),
        ({"v": 1, "p": {"users": {"*": 16}}}, "permissions"),
        ({"v": 1, "p": {"users": {"*": -1}}}, "permissions"),
        ({"v": 1, "p": {"users": {"*": "1"}}}, "permissions"),
        ({"v": 1, "p": {"users": {"*": 1.0}}}, "permissions"),
        ({"v": 1, "p": {"users": {"*": True}}}, "permissions"),
        ({"v": 1, "p": {"users": {"*": None}}}, "permissions"),
        ({"v": 1, "p": {"users": {"": 1}}}, "selector"),
        ({"v": 1, "p": {"users": {"a b": 1}}}, "selector"),
        ({"v": 1, "p": {"users": {7: 1}}}, "selector"),
        # Version 1 had no ownership: "@own" there is no id, and no keyword either.
        ({"v": 1, "p": {"users": {"@own": 1}}}, "version 2"),
        ({"v": 2, "p": {"users": {"@mine": 1}}}, "keyword"),
    ],
)
def test_decode_refuses_malformed_input_with_invalid(data: object, reason: str) -> None:
    with pytest.raises(Invalid, match=reason):
        PolicyContext.decode(data)
