"""Reads: the viewer, Relay nodes and connections, all within the caller's read scope."""

from __future__ import annotations

from typing import Any

import pytest

from integration.entrypoints.support import Api, counting_statements, edges_ids, gid
from kingdom.domain.access import Permission, Policy
from kingdom.domain.ledger import TransferFunds
from kingdom.services.fakes import superuser

ACCOUNTS_PAGE = """
query Accounts($first: Int, $after: String, $last: Int, $before: String) {
  accounts(first: $first, after: $after, last: $last, before: $before) {
    totalCount
    edges { cursor node { id balance } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


async def test_viewer_is_null_without_a_token_and_the_caller_with_one(api: Api) -> None:
    user_id = await api.register("ada@example.org", "Ada")

    anonymous = await api.ok("{ viewer { id } }")
    # The caller sees themself without any users:READ grant.
    mine = await api.ok(
        "{ viewer { id email displayName status roleCodes version } }",
        token=api.token_with(user_id=user_id),
    )

    assert anonymous == {"viewer": None}
    assert mine["viewer"] == {
        "id": gid("User", user_id),
        "email": "ada@example.org",
        "displayName": "Ada",
        "status": "ACTIVE",
        "roleCodes": [],
        "version": 1,
    }


async def test_login_issues_a_token_that_identifies_the_caller(api: Api) -> None:
    user_id = await api.register("ada@example.org")

    login = await api.ok(
        """mutation($input: LoginInput!) {
             login(input: $input) { accessToken tokenType expiresAt }
           }""",
        {"input": {"email": "ada@example.org", "password": "correct horse battery"}},
    )
    token = login["login"]["accessToken"]
    viewer = await api.ok("{ viewer { id } }", token=token)

    assert login["login"]["tokenType"] == "Bearer"
    assert login["login"]["expiresAt"] == "2024-01-01T01:00:00Z"
    assert viewer == {"viewer": {"id": gid("User", user_id)}}


async def test_a_wrong_password_is_unauthenticated(api: Api) -> None:
    await api.register("ada@example.org")

    result = await api.execute(
        'mutation { login(input: {email: "ada@example.org", password: "nope"}) { accessToken } }'
    )

    assert result.codes == ["UNAUTHENTICATED"]
    assert result.data is None


@pytest.mark.parametrize(
    "query",
    [
        "{ accounts { totalCount } }",
        "{ users { totalCount } }",
        "{ roles { totalCount } }",
        '{ node(id: "QWNjb3VudDp4") { id } }',
        '{ nodes(ids: ["QWNjb3VudDp4"]) { id } }',
        '{ account(id: "QWNjb3VudDp4") { id } }',
    ],
)
async def test_protected_fields_need_a_token(api: Api, query: str) -> None:
    result = await api.execute(query)

    assert result.status == 200
    assert result.codes == ["UNAUTHENTICATED"]


async def test_node_nodes_and_typed_fields_agree_with_the_read_scope(api: Api) -> None:
    owner = await api.register("owner@example.org")
    mine, other = await api.open_account(owner, 100), await api.open_account(owner, 200)
    await api.bus.handle(
        TransferFunds(
            meta=api.meta(), actor=superuser(), source_id=mine, target_id=other, amount=10
        )
    )
    token = api.token_with(Policy.of("accounts", Permission.READ, mine))
    mine_id, other_id = gid("Account", mine), gid("Account", other)

    data = await api.ok(
        """query($mine: ID!, $other: ID!) {
             accounts { totalCount edges { node { id } } }
             mineNode: node(id: $mine) { id ... on Account { balance } }
             otherNode: node(id: $other) { id }
             nodes(ids: [$other, $mine]) { id }
             mineTyped: account(id: $mine) { id balance }
             otherTyped: account(id: $other) { id }
           }""",
        {"mine": mine_id, "other": other_id},
        token=token,
    )

    assert data["accounts"] == {"totalCount": 1, "edges": [{"node": {"id": mine_id}}]}
    assert data["mineNode"] == {"id": mine_id, "balance": "90"}
    assert data["otherNode"] is None
    assert data["nodes"] == [None, {"id": mine_id}]
    assert data["mineTyped"] == {"id": mine_id, "balance": "90"}
    assert data["otherTyped"] is None


async def test_a_transfer_is_readable_through_either_account_and_hides_the_other(
    api: Api,
) -> None:
    owner = await api.register("owner@example.org")
    source, target = await api.open_account(owner, 100), await api.open_account(owner)
    transfer_id: str = await api.bus.handle(
        TransferFunds(
            meta=api.meta(), actor=superuser(), source_id=source, target_id=target, amount=25
        )
    )
    reads_target = api.token_with(Policy.of("accounts", Permission.READ, target))
    reads_nothing = api.token_with(Policy.of("users", Permission.READ))
    query = """query($id: ID!) {
      node(id: $id) {
        id
        ... on Transfer { amount currency occurredAt source { id } target { id } }
      }
    }"""

    seen = await api.ok(query, {"id": gid("Transfer", transfer_id)}, token=reads_target)
    unseen = await api.ok(query, {"id": gid("Transfer", transfer_id)}, token=reads_nothing)

    assert seen["node"] == {
        "id": gid("Transfer", transfer_id),
        "amount": "25",
        "currency": "EUR",
        "occurredAt": "2024-01-01T00:00:00Z",
        "source": None,  # out of the caller's scope
        "target": {"id": gid("Account", target)},
    }
    assert unseen["node"] is None


async def test_nested_lookups_honour_their_own_resource_scope(api: Api) -> None:
    owner = await api.register("owner@example.org")
    account = await api.open_account(owner)
    only_accounts = api.token_with(Policy.of("accounts", Permission.READ))
    accounts_and_users = api.token_with(
        Policy.of("accounts", Permission.READ), Policy.of("users", Permission.READ)
    )
    query = "{ accounts { edges { node { id owner { email } } } } }"

    hidden = await api.ok(query, token=only_accounts)
    shown = await api.ok(query, token=accounts_and_users)

    node = {"id": gid("Account", account)}
    assert hidden["accounts"]["edges"] == [{"node": {**node, "owner": None}}]
    assert shown["accounts"]["edges"] == [
        {"node": {**node, "owner": {"email": "owner@example.org"}}}
    ]


async def _walk(api: Api, token: str, *, forward: bool, size: int) -> list[dict[str, Any]]:
    pages = []
    cursor: str | None = None
    while True:
        variables = (
            {"first": size, "after": cursor} if forward else {"last": size, "before": cursor}
        )
        page = (await api.ok(ACCOUNTS_PAGE, variables, token=token))["accounts"]
        pages.append(page)
        info = page["pageInfo"]
        more = info["hasNextPage"] if forward else info["hasPreviousPage"]
        if not more:
            return pages
        cursor = info["endCursor"] if forward else info["startCursor"]
        assert len(pages) < 10, "the walk does not end"


async def test_connections_walk_forward_and_backward_exactly_once(api: Api) -> None:
    owner = await api.register("owner@example.org")
    created = [await api.open_account(owner, balance=n + 1) for n in range(7)]
    expected = [gid("Account", account) for account in sorted(created)]
    token = api.token_with(Policy.of("accounts", Permission.READ))

    forward = await _walk(api, token, forward=True, size=3)
    backward = await _walk(api, token, forward=False, size=3)

    assert [len(page["edges"]) for page in forward] == [3, 3, 1]
    assert [edge_id for page in forward for edge_id in edges_ids(page)] == expected
    assert [len(page["edges"]) for page in backward] == [3, 3, 1]
    assert [edge_id for page in reversed(backward) for edge_id in edges_ids(page)] == expected
    assert {page["totalCount"] for page in forward + backward} == {7}
    first, last = forward[0]["pageInfo"], forward[-1]["pageInfo"]
    assert (first["hasPreviousPage"], first["hasNextPage"]) == (False, True)
    assert (last["hasPreviousPage"], last["hasNextPage"]) == (True, False)
    assert first["startCursor"] == forward[0]["edges"][0]["cursor"]
    assert first["endCursor"] == forward[0]["edges"][-1]["cursor"]
    newest, oldest = backward[0]["pageInfo"], backward[-1]["pageInfo"]
    assert (newest["hasPreviousPage"], newest["hasNextPage"]) == (True, False)
    assert (oldest["hasPreviousPage"], oldest["hasNextPage"]) == (False, True)


async def test_connections_default_to_twenty_items(api: Api) -> None:
    owner = await api.register("owner@example.org")
    for _ in range(21):
        await api.open_account(owner)

    page = (
        await api.ok(ACCOUNTS_PAGE, token=api.token_with(Policy.of("accounts", Permission.READ)))
    )["accounts"]

    assert len(page["edges"]) == 20
    assert page["pageInfo"]["hasNextPage"] is True
    assert page["totalCount"] == 21


async def test_users_roles_and_transfers_are_connections_too(api: Api) -> None:
    emails = [f"user-{n}@example.org" for n in (3, 1, 2)]
    user_ids = [await api.register(email) for email in emails]
    source, target = await api.open_account(user_ids[0], 100), await api.open_account(user_ids[1])
    for amount in (1, 2, 3):
        await api.bus.handle(
            TransferFunds(
                meta=api.meta(),
                actor=superuser(),
                source_id=source,
                target_id=target,
                amount=amount,
            )
        )
    token = api.token_with(
        Policy.of("users", Permission.READ),
        Policy.of("roles", Permission.READ),
        Policy.of("accounts", Permission.READ),
    )

    data = await api.ok(
        """query($account: ID!) {
             users(first: 2) { totalCount edges { node { email } } pageInfo { hasNextPage } }
             roles { totalCount edges { node { code } } }
             account(id: $account) {
               transfers(last: 2) {
                 totalCount
                 edges { node { amount source { id } target { id } } }
                 pageInfo { hasPreviousPage hasNextPage }
               }
             }
           }""",
        {"account": gid("Account", target)},
        token=token,
    )

    assert data["users"] == {
        "totalCount": 3,
        "edges": [
            {"node": {"email": "user-1@example.org"}},
            {"node": {"email": "user-2@example.org"}},
        ],
        "pageInfo": {"hasNextPage": True},
    }
    assert data["roles"] == {"totalCount": 0, "edges": []}
    transfers = data["account"]["transfers"]
    assert transfers["totalCount"] == 3
    # Newest first; `last: 2` is the two oldest, still in listing order.
    assert [edge["node"]["amount"] for edge in transfers["edges"]] == ["2", "1"]
    assert transfers["pageInfo"] == {"hasPreviousPage": True, "hasNextPage": False}
    assert transfers["edges"][0]["node"]["source"] == {"id": gid("Account", source)}


async def test_forged_and_foreign_cursors_are_bad_user_input(api: Api) -> None:
    owner = await api.register("owner@example.org")
    for _ in range(3):
        await api.open_account(owner)
    token = api.token_with(
        Policy.of("accounts", Permission.READ), Policy.of("users", Permission.READ)
    )
    cursor = (await api.ok(ACCOUNTS_PAGE, {"first": 1}, token=token))["accounts"]["pageInfo"][
        "endCursor"
    ]
    users_cursor = (await api.ok("{ users(first: 1) { pageInfo { endCursor } } }", token=token))[
        "users"
    ]["pageInfo"]["endCursor"]
    payload, _, mac = cursor.partition(".")
    tampered = f"{payload}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}"

    for forged in (tampered, users_cursor, "not-a-cursor", "x" * 5000):
        result = await api.execute(ACCOUNTS_PAGE, {"first": 1, "after": forged}, token=token)
        assert result.status == 200, forged  # the operation ran; the field refused
        assert result.codes == ["BAD_USER_INPUT"], (forged, result.body)
        assert result.data is None


@pytest.mark.parametrize(
    "arguments",
    [
        {"first": 101},
        {"last": 101},
        {"first": 0},
        {"first": -1},
        {"first": 2, "last": 2},
        {"after": "a", "before": "b"},
        {"last": 2, "after": "a"},
    ],
)
async def test_page_arguments_out_of_bounds_are_bad_user_input(
    api: Api, arguments: dict[str, Any]
) -> None:
    token = api.token_with(Policy.of("accounts", Permission.READ))

    result = await api.execute(ACCOUNTS_PAGE, arguments, token=token)

    assert result.codes == ["BAD_USER_INPUT"]


async def test_malformed_global_ids_are_bad_user_input(api: Api) -> None:
    token = api.token_with(Policy.of("accounts", Permission.READ))

    for bad in ("", "!!!", "QWNjb3VudA", gid("User", "u") + "=", "Tm9wZTp4"):
        result = await api.execute(
            "query($id: ID!) { node(id: $id) { id } }", {"id": bad}, token=token
        )
        assert result.codes == ["BAD_USER_INPUT"], (bad, result.body)
    wrong_type = await api.execute(
        "query($id: ID!) { account(id: $id) { id } }", {"id": gid("User", "u")}, token=token
    )
    assert wrong_type.codes == ["BAD_USER_INPUT"]


async def test_a_page_of_accounts_with_owners_costs_a_constant_number_of_statements(
    api: Api,
) -> None:
    for n in range(50):
        owner = await api.register(f"owner-{n:02d}@example.org")
        await api.open_account(owner)
    token = api.token_with(
        Policy.of("accounts", Permission.READ), Policy.of("users", Permission.READ)
    )
    query = """query($first: Int!) {
      accounts(first: $first) {
        totalCount
        edges { node { id balance owner { id email roleCodes } } }
      }
    }"""
    await api.ok(query, {"first": 1}, token=token)  # warm the pool (driver set-up queries)

    async with counting_statements(api) as few:
        small = await api.ok(query, {"first": 5}, token=token)
    async with counting_statements(api) as many:
        large = await api.ok(query, {"first": 50}, token=token)

    owners = {edge["node"]["owner"]["email"] for edge in large["accounts"]["edges"]}
    assert len(small["accounts"]["edges"]) == 5
    assert len(owners) == 50
    queries = [statement for statement in many if statement.lstrip().upper().startswith("SELECT")]
    # The page, the owners in one batch, and their roles in one more.
    assert len(many) == len(few)
    assert len(queries) == 3, many
