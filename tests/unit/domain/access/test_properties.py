"""Properties of compiling and deciding, checked against a naive reference.

The reference evaluator below reads the raw policy list directly, with no
merging or compaction, so it is obviously right; the compiled context must
make the same decision for every resource, selector and action.
"""

import json

from hypothesis import given
from hypothesis import strategies as st

from kingdom.domain.access import (
    AccessDenied,
    Permission,
    Policy,
    PolicyContext,
    ReadScope,
    authorize,
    compile_policies,
)
from kingdom.domain.shared import Invalid

RESOURCES = ["accounts", "users", "roles"]
IDS = ["a", "b", "c", "d"]
ACTIONS = [Permission.READ, Permission.CREATE, Permission.UPDATE, Permission.DELETE]
# Probe a resource and an id that no policy mentions as well, and "every instance".
PROBE_RESOURCES = [*RESOURCES, "unknown"]
PROBE_SELECTORS: list[str | None] = [None, "*", *IDS, "zzz"]

flags = st.integers(min_value=1, max_value=15).map(Permission)
policies = st.builds(
    Policy,
    resource=st.sampled_from(RESOURCES),
    permissions=flags,
    selectors=st.frozensets(st.sampled_from(["*", *IDS]), min_size=1),
)
policy_lists = st.lists(policies, max_size=12)


def naive_allows(
    policies: list[Policy], resource: str, action: Permission, selector: str | None
) -> bool:
    """Some policy grants ``action`` on the instance, or on every instance."""
    return any(
        p.resource == resource
        and action in p.permissions
        and ("*" in p.selectors or (selector not in (None, "*") and selector in p.selectors))
        for p in policies
    )


def naive_read_scope(policies: list[Policy], resource: str, selector: str | None) -> ReadScope:
    if selector is not None and selector != "*":
        allowed = naive_allows(policies, resource, Permission.READ, selector)
        return ReadScope(all=False, ids=frozenset({selector} if allowed else ()))
    if naive_allows(policies, resource, Permission.READ, None):
        return ReadScope.everything()
    return ReadScope(
        all=False,
        ids=frozenset(
            s
            for p in policies
            if p.resource == resource and Permission.READ in p.permissions
            for s in p.selectors
        ),
    )


def decision(
    context: PolicyContext, resource: str, action: Permission, selector: str | None
) -> ReadScope | bool:
    if action is Permission.READ:
        return authorize(context, resource, action, selector)
    try:
        return authorize(context, resource, action, selector)
    except AccessDenied:
        return False


def all_decisions(context: PolicyContext) -> dict[tuple[str, Permission, str | None], object]:
    return {
        (r, a, s): decision(context, r, a, s)
        for r in PROBE_RESOURCES
        for a in ACTIONS
        for s in PROBE_SELECTORS
    }


@given(policy_lists)
def test_compiled_decisions_match_the_naive_reference(raw: list[Policy]) -> None:
    context = compile_policies(raw)
    for resource in PROBE_RESOURCES:
        for selector in PROBE_SELECTORS:
            assert decision(context, resource, Permission.READ, selector) == naive_read_scope(
                raw, resource, selector
            )
            for action in ACTIONS[1:]:
                assert decision(context, resource, action, selector) == naive_allows(
                    raw, resource, action, selector
                )


@given(policy_lists)
def test_permissions_for_is_the_union_of_matching_grants(raw: list[Policy]) -> None:
    context = compile_policies(raw)
    for resource in PROBE_RESOURCES:
        for selector in PROBE_SELECTORS:
            expected = Permission.NONE
            for action in ACTIONS:
                if naive_allows(raw, resource, action, selector):
                    expected |= action
            assert context.permissions_for(resource, selector) == expected


@given(st.data(), policy_lists)
def test_compiling_ignores_order_and_duplicates(data: st.DataObject, raw: list[Policy]) -> None:
    shuffled = data.draw(st.permutations(raw))
    extra = data.draw(st.lists(st.sampled_from(raw))) if raw else []
    doubled = [*raw, *extra]
    context = compile_policies(raw)
    assert compile_policies(shuffled) == context
    assert compile_policies(doubled) == context
    assert hash(compile_policies(shuffled)) == hash(context)
    assert json.dumps(compile_policies(shuffled).encode()) == json.dumps(context.encode())


@given(policy_lists)
def test_compiling_is_idempotent(raw: list[Policy]) -> None:
    context = compile_policies(raw)
    assert compile_policies(context.policies()) == context
    assert context.policies() == compile_policies(context.policies()).policies()


@given(policy_lists)
def test_the_compiled_form_has_no_redundancy(raw: list[Policy]) -> None:
    grants = compile_policies(raw).encode()["p"]
    assert isinstance(grants, dict)
    for by_selector in grants.values():
        assert by_selector, "no empty resource entries"
        everywhere = by_selector.get("*", 0)
        for selector, value in by_selector.items():
            assert value != 0
            if selector != "*":
                assert value & everywhere == 0


@given(policy_lists)
def test_a_context_covers_every_policy_it_was_compiled_from(raw: list[Policy]) -> None:
    context = compile_policies(raw)
    assert all(context.covers(policy) for policy in raw)
    assert all(context.covers(policy) for policy in context.policies())


@given(policy_lists, policy_lists)
def test_granting_more_never_removes_access(base: list[Policy], extra: list[Policy]) -> None:
    before = all_decisions(compile_policies(base))
    after = all_decisions(compile_policies(base + extra))
    for key, was in before.items():
        now = after[key]
        if isinstance(was, ReadScope):
            assert isinstance(now, ReadScope)
            assert now.all or (not was.all and was.ids <= now.ids)
        elif was:
            assert now is True


@given(policy_lists)
def test_encoding_round_trips(raw: list[Policy]) -> None:
    context = compile_policies(raw)
    encoded = context.encode()
    assert PolicyContext.decode(encoded) == context
    assert PolicyContext.decode(json.loads(json.dumps(encoded))) == context
    assert PolicyContext.decode(encoded).encode() == encoded


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 20) | st.floats() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(
        st.text(max_size=5) | st.sampled_from(["v", "p", "*", *RESOURCES]), children, max_size=3
    ),
    max_leaves=12,
)
near_valid = st.fixed_dictionaries(
    {
        "v": st.sampled_from([1, 1, 1, 2, True, "1", None]),
        "p": st.dictionaries(
            st.sampled_from([*RESOURCES, "", "Bad"]) | st.text(max_size=4),
            st.dictionaries(st.sampled_from(["*", *IDS, "", " "]), json_values, max_size=3)
            | json_values,
            max_size=3,
        ),
    }
)


@given(json_values | near_valid)
def test_decode_only_ever_raises_invalid(data: object) -> None:
    try:
        context = PolicyContext.decode(data)
    except Invalid:
        return
    assert PolicyContext.decode(context.encode()) == context
