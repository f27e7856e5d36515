import pytest

from kingdom.domain.access import ALL_INSTANCES, MAX_SELECTOR_LENGTH, Permission, Policy
from kingdom.domain.shared import Invalid

READ = Permission.READ


def test_of_defaults_to_every_instance() -> None:
    assert Policy.of("accounts", READ) == Policy("accounts", READ, frozenset({ALL_INSTANCES}))


def test_of_takes_instance_ids() -> None:
    policy = Policy.of("accounts", READ | Permission.UPDATE, "acc-1", "acc-2")
    assert policy.selectors == frozenset({"acc-1", "acc-2"})
    assert policy.permissions == READ | Permission.UPDATE


def test_policies_are_values_usable_in_sets() -> None:
    a = Policy.of("users", READ, "u1", "u2")
    b = Policy("users", READ, frozenset({"u2", "u1"}))
    assert a == b
    assert len({a, b}) == 1


def test_a_policy_is_kept_as_given_not_compacted() -> None:
    policy = Policy.of("users", READ, "*", "u1")
    assert policy.selectors == {"*", "u1"}


def test_plain_int_permissions_and_mutable_sets_are_normalised() -> None:
    policy = Policy("users", 3, {"u1"})  # type: ignore[arg-type]
    assert type(policy.permissions) is Permission
    assert policy.permissions == READ | Permission.CREATE
    assert type(policy.selectors) is frozenset


def test_sort_key_orders_policies_totally() -> None:
    policies = [
        Policy.of("users", READ, "b"),
        Policy.of("accounts", Permission.ALL),
        Policy.of("users", READ, "a", "c"),
    ]
    ordered = sorted(policies, key=lambda policy: policy.sort_key)
    assert [p.sort_key for p in ordered] == [
        ("accounts", ("*",), 15),
        ("users", ("a", "c"), 1),
        ("users", ("b",), 1),
    ]


@pytest.mark.parametrize(
    "resource",
    ["", "Accounts", "1accounts", "accounts!", "users\n", "a" * 64, "ünicode", 7, None],
)
def test_invalid_resource_names_are_refused(resource: object) -> None:
    with pytest.raises(Invalid, match="resource"):
        Policy(resource, READ, frozenset({"*"}))  # type: ignore[arg-type]


@pytest.mark.parametrize("resource", ["a", "accounts", "billing.invoices", "x-1_y", "a" * 63])
def test_valid_resource_names_are_accepted(resource: str) -> None:
    assert Policy.of(resource, READ).resource == resource


@pytest.mark.parametrize("permissions", [Permission.NONE, 0, 16, -1, True, "READ", None])
def test_permissions_must_grant_one_to_all_actions(permissions: object) -> None:
    with pytest.raises(Invalid, match="permissions"):
        Policy("users", permissions, frozenset({"*"}))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "selector",
    ["", " ", "a b", "tab\there", "new\nline", "x" * (MAX_SELECTOR_LENGTH + 1), "\x00", 5],
)
def test_invalid_selectors_are_refused(selector: object) -> None:
    with pytest.raises(Invalid, match="selector"):
        Policy("users", READ, frozenset({selector}))  # type: ignore[arg-type]


def test_longest_selector_is_accepted() -> None:
    longest = "x" * MAX_SELECTOR_LENGTH
    assert Policy.of("users", READ, longest).selectors == {longest}


def test_a_policy_needs_a_selector() -> None:
    with pytest.raises(Invalid, match="at least one selector"):
        Policy("users", READ, frozenset())


@pytest.mark.parametrize("selectors", ["acc-1", ["acc-1"], None])
def test_selectors_must_be_a_set_not_a_string_or_list(selectors: object) -> None:
    with pytest.raises(Invalid, match="set of strings"):
        Policy("users", READ, selectors)  # type: ignore[arg-type]


def test_own_is_a_selector_and_other_keywords_are_refused() -> None:
    assert Policy.of("accounts", READ, "@own").selectors == {"@own"}
    with pytest.raises(Invalid, match="keyword"):
        Policy.of("accounts", READ, "@mine")
