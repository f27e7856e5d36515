"""Properties of compiling and deciding, checked against a naive reference.

The reference evaluator below reads the raw policy list directly, with no
merging or compaction, so it is obviously right; the compiled context must
make the same decision for every resource, selector, action, caller and
instance owner. Ownership is probed with a caller ``"me"`` (or nobody) and
instances owned by the caller, by someone else, or by an owner not known.
"""

import json

from hypothesis import given
from hypothesis import strategies as st

from kingdom.domain.access import (
    OWN_INSTANCES,
    AccessDenied,
    Permission,
    Policy,
    PolicyContext,
    ReadScope,
    authorize,
    compile_policies,
    precheck,
)
from kingdom.domain.shared import Invalid

RESOURCES = ["accounts", "users", "roles"]
IDS = ["a", "b", "c", "d"]
ACTIONS = [Permission.READ, Permission.CREATE, Permission.UPDATE, Permission.DELETE]
WRITES = ACTIONS[1:]
ME, THEM = "me", "them"
# Probe a resource and an id that no policy mentions as well, and "every instance".
PROBE_RESOURCES = [*RESOURCES, "unknown"]
PROBE_SELECTORS: list[str | None] = [None, "*", *IDS, "zzz"]
PROBE_CALLERS: list[str | None] = [ME, None]
PROBE_OWNERS: list[str | None] = [None, ME, THEM]

flags = st.integers(min_value=1, max_value=15).map(Permission)
policies = st.builds(
    Policy,
    resource=st.sampled_from(RESOURCES),
    permissions=flags,
    selectors=st.frozensets(st.sampled_from(["*", OWN_INSTANCES, *IDS]), min_size=1),
)
policy_lists = st.lists(policies, max_size=12)


def naive_allows(
    policies: list[Policy],
    resource: str,
    action: Permission,
    selector: str | None,
    caller: str | None = None,
    owner: str | None = None,
) -> bool:
    """Some policy grants ``action`` on every instance, on this one, or on the caller's own."""
    instance = selector not in (None, "*")
    mine = caller is not None and owner == caller
    return any(
        p.resource == resource
        and action in p.permissions
        and (
            "*" in p.selectors
            or (instance and selector in p.selectors)
            or (mine and OWN_INSTANCES in p.selectors)
        )
        for p in policies
    )


def naive_own_reads(policies: list[Policy], resource: str) -> bool:
    return any(
        p.resource == resource
        and Permission.READ in p.permissions
        and ("*" in p.selectors or OWN_INSTANCES in p.selectors)
        for p in policies
    )


def naive_read_scope(
    policies: list[Policy],
    resource: str,
    selector: str | None,
    caller: str | None = None,
    owner: str | None = None,
) -> ReadScope:
    reader = caller if naive_own_reads(policies, resource) else None
    if selector is not None and selector != "*":
        if naive_allows(policies, resource, Permission.READ, selector, caller, owner):
            return ReadScope(all=False, ids=frozenset({selector}))
        if owner is None and reader is not None:
            return ReadScope.owned_by(reader)
        return ReadScope.nothing()
    if naive_allows(policies, resource, Permission.READ, None):
        return ReadScope.everything()
    return ReadScope(
        all=False,
        ids=frozenset(
            s
            for p in policies
            if p.resource == resource and Permission.READ in p.permissions
            for s in p.selectors
            if s not in ("*", OWN_INSTANCES)
        ),
        owner=reader,
    )


def decision(
    context: PolicyContext,
    resource: str,
    action: Permission,
    selector: str | None,
    caller: str | None = None,
    owner: str | None = None,
) -> ReadScope | bool:
    if action is Permission.READ:
        return authorize(context, resource, action, selector, caller=caller, owner=owner)
    try:
        return authorize(context, resource, action, selector, caller=caller, owner=owner)
    except AccessDenied:
        return False


def probes() -> list[tuple[str, Permission, str | None, str | None, str | None]]:
    """Every (resource, action, selector, caller, owner) worth asking about."""
    return [
        (r, a, s, c, o)
        for r in PROBE_RESOURCES
        for a in ACTIONS
        for s in PROBE_SELECTORS
        for c in PROBE_CALLERS
        for o in PROBE_OWNERS
        # A listing has no owner (authorize refuses to be asked).
        if not (a is Permission.READ and s in (None, "*") and o is not None)
    ]


def all_decisions(context: PolicyContext) -> dict[tuple[object, ...], object]:
    return {probe: decision(context, *probe) for probe in probes()}


@given(policy_lists)
def test_compiled_decisions_match_the_naive_reference(raw: list[Policy]) -> None:
    context = compile_policies(raw)
    for resource, action, selector, caller, owner in probes():
        got = decision(context, resource, action, selector, caller, owner)
        if action is Permission.READ:
            expected: object = naive_read_scope(raw, resource, selector, caller, owner)
        else:
            expected = naive_allows(raw, resource, action, selector, caller, owner)
        assert got == expected, (resource, action, selector, caller, owner)


@given(policy_lists)
def test_a_listing_shows_exactly_the_instances_the_reference_lets_the_caller_read(
    raw: list[Policy],
) -> None:
    # Every instance (an id with an owner) a listing's scope lets through,
    # judged as a query would: by id, or by owner_id = scope.owner.
    context = compile_policies(raw)
    for resource in PROBE_RESOURCES:
        for caller in PROBE_CALLERS:
            scope = authorize(context, resource, Permission.READ, caller=caller)
            for instance in [*IDS, "zzz"]:
                for owner in (ME, THEM):
                    assert scope.allows(instance, owner) == naive_allows(
                        raw, resource, Permission.READ, instance, caller, owner
                    ), (resource, caller, instance, owner)


@given(policy_lists)
def test_precheck_refuses_exactly_what_no_owner_could_allow(raw: list[Policy]) -> None:
    context = compile_policies(raw)
    for resource in PROBE_RESOURCES:
        for action in WRITES:
            for selector in PROBE_SELECTORS:
                for caller in PROBE_CALLERS:
                    possible = any(
                        naive_allows(raw, resource, action, selector, caller, owner)
                        for owner in PROBE_OWNERS
                    )
                    try:
                        precheck(context, resource, action, selector, caller=caller)
                        passed = True
                    except AccessDenied:
                        passed = False
                    assert passed == possible, (resource, action, selector, caller)


@given(policy_lists)
def test_permissions_for_is_the_union_of_matching_grants(raw: list[Policy]) -> None:
    context = compile_policies(raw)
    for resource in PROBE_RESOURCES:
        for selector in PROBE_SELECTORS:
            for owned in (False, True):
                expected = Permission.NONE
                for action in ACTIONS:
                    if naive_allows(raw, resource, action, selector, ME, ME if owned else THEM):
                        expected |= action
                assert context.permissions_for(resource, selector, owned=owned) == expected


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


def visible(scope: ReadScope, selector: object) -> set[tuple[str, str]]:
    """The (instance, owner) pairs a read lets through (of the selected instance, if any)."""
    instances = [*IDS, "zzz"] if selector in (None, "*") else [str(selector)]
    return {(i, o) for i in instances for o in (ME, THEM) if scope.allows(i, o)}


@given(policy_lists, policy_lists)
def test_granting_more_never_removes_access(base: list[Policy], extra: list[Policy]) -> None:
    before = all_decisions(compile_policies(base))
    after = all_decisions(compile_policies(base + extra))
    for key, was in before.items():
        now = after[key]
        if isinstance(was, ReadScope):
            assert isinstance(now, ReadScope)
            assert visible(was, key[2]) <= visible(now, key[2])
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
        "v": st.sampled_from([1, 1, 2, 2, 3, True, "1", None]),
        "p": st.dictionaries(
            st.sampled_from([*RESOURCES, "", "Bad"]) | st.text(max_size=4),
            st.dictionaries(
                st.sampled_from(["*", OWN_INSTANCES, "@x", *IDS, "", " "]), json_values, max_size=3
            )
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
