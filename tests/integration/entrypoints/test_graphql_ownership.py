"""Ownership over GraphQL, on SQLite and PostgreSQL: a newcomer uses what it owns.

Every registered user starts with ``"@own"`` grants (its own accounts, its
own user), so the journey register → login → openAccount → deposit →
transfer → list → refresh needs no administrator, and the same grants show
it nothing of anyone else's: reads are scoped in SQL (``owner_id =
:caller``), writes are refused once the instance's owner is known.
"""

from __future__ import annotations

import re
from typing import Any

from integration.entrypoints.support import PASSWORD, Api, gid
from kingdom.domain.access import Permission, Policy
from kingdom.entrypoints.graphql.global_ids import decode_as

REGISTER = "mutation($i: RegisterUserInput!) { registerUser(input: $i) { userId } }"
LOGIN = """
mutation($e: String!, $p: String!) {
  login(input: {email: $e, password: $p}) { accessToken refreshToken }
}
"""
REFRESH = """
mutation($t: String!) { refresh(input: {refreshToken: $t}) { accessToken refreshToken } }
"""
OPEN = """
mutation($i: OpenAccountInput!) {
  openAccount(input: $i) { accountId account { id balance currency owner { email } } }
}
"""
DEPOSIT = """
mutation($i: DepositInput!) { deposit(input: $i) { account { balance version } } }
"""
TRANSFER = """
mutation($i: TransferInput!) {
  transfer(input: $i) { transferId transfer { amount source { id } target { id } } }
}
"""
MY_ACCOUNTS = """
{
  viewer { id email }
  accounts(first: 10) {
    totalCount
    edges { node { id balance owner { email } transfers(first: 10) {
      totalCount edges { node { amount source { id } target { id } } }
    } } }
  }
  users(first: 10) { totalCount edges { node { email } } }
}
"""


async def newcomer(api: Api, email: str) -> dict[str, Any]:
    """Register and log in through the API alone; returns the session and the user id."""
    registered = await api.ok(
        REGISTER, {"i": {"email": email, "displayName": email[:3], "password": PASSWORD}}
    )
    session: dict[str, Any] = (await api.ok(LOGIN, {"e": email, "p": PASSWORD}))["login"]
    return {**session, "userId": registered["registerUser"]["userId"]}


async def open_account(api: Api, token: str, currency: str = "EUR") -> dict[str, Any]:
    opened: dict[str, Any] = (await api.ok(OPEN, {"i": {"currency": currency}}, token=token))[
        "openAccount"
    ]
    return opened


async def test_a_newcomer_opens_deposits_transfers_lists_and_refreshes_without_an_admin(
    api: Api,
) -> None:
    ann = await newcomer(api, "ann@example.org")
    token = ann["accessToken"]

    first = await open_account(api, token)
    second = await open_account(api, token)
    deposited = await api.ok(
        DEPOSIT, {"i": {"accountId": first["accountId"], "amount": "1500"}}, token=token
    )
    moved = await api.ok(
        TRANSFER,
        {
            "i": {
                "sourceId": first["accountId"],
                "targetId": second["accountId"],
                "amount": "400",
                "expectedVersion": deposited["deposit"]["account"]["version"],
            }
        },
        token=token,
    )
    listed = await api.ok(MY_ACCOUNTS, token=token)
    renewed = (await api.ok(REFRESH, {"t": ann["refreshToken"]}))["refresh"]
    again = await api.ok(MY_ACCOUNTS, token=renewed["accessToken"])

    # openAccount returns the account to its owner.
    assert first["account"] == {
        "id": first["accountId"],
        "balance": "0",
        "currency": "EUR",
        "owner": {"email": "ann@example.org"},
    }
    assert deposited["deposit"]["account"]["balance"] == "1500"
    assert moved["transfer"]["transfer"] == {
        "amount": "400",
        "source": {"id": first["accountId"]},
        "target": {"id": second["accountId"]},
    }
    assert listed["viewer"] == {"id": ann["userId"], "email": "ann@example.org"}
    accounts = {edge["node"]["id"]: edge["node"] for edge in listed["accounts"]["edges"]}
    assert listed["accounts"]["totalCount"] == 2
    assert {id: node["balance"] for id, node in accounts.items()} == {
        first["accountId"]: "1100",
        second["accountId"]: "400",
    }
    for node in accounts.values():
        assert node["owner"] == {"email": "ann@example.org"}
        assert node["transfers"]["totalCount"] == 1
        assert node["transfers"]["edges"][0]["node"]["amount"] == "400"
    # A user owns itself: it lists itself among users, and nobody else.
    assert listed["users"] == {"totalCount": 1, "edges": [{"node": {"email": "ann@example.org"}}]}
    assert again == listed


async def test_own_grants_show_and_change_nothing_of_someone_elses(api: Api) -> None:
    ann = await newcomer(api, "ann@example.org")
    bob = await newcomer(api, "bob@example.org")
    anns = await open_account(api, ann["accessToken"])
    bobs = await open_account(api, bob["accessToken"])
    await api.ok(
        DEPOSIT, {"i": {"accountId": anns["accountId"], "amount": 100}}, token=ann["accessToken"]
    )
    token = bob["accessToken"]

    seen = await api.ok(
        """query($a: ID!, $u: ID!) {
             accounts(first: 10) { totalCount edges { node { id } } }
             account(id: $a) { id }
             node(id: $a) { id }
             user(id: $u) { id }
             users(first: 10) { totalCount }
           }""",
        {"a": anns["accountId"], "u": ann["userId"]},
        token=token,
    )
    deposit = await api.execute(
        DEPOSIT, {"i": {"accountId": anns["accountId"], "amount": 1}}, token=token
    )
    steal = await api.execute(
        TRANSFER,
        {"i": {"sourceId": anns["accountId"], "targetId": bobs["accountId"], "amount": 1}},
        token=token,
    )
    for_ann = await api.execute(
        OPEN, {"i": {"currency": "EUR", "ownerId": ann["userId"]}}, token=token
    )
    # A made-up account id answers like someone else's: ids cannot be probed.
    made_up = await api.execute(
        DEPOSIT, {"i": {"accountId": gid("Account", "no-such"), "amount": 1}}, token=token
    )

    assert seen == {
        "accounts": {"totalCount": 1, "edges": [{"node": {"id": bobs["accountId"]}}]},
        "account": None,
        "node": None,
        "user": None,
        "users": {"totalCount": 1},
    }
    assert deposit.codes == steal.codes == for_ann.codes == made_up.codes == ["FORBIDDEN"]
    assert deposit.errors[0]["message"] == made_up.errors[0]["message"].replace(
        repr("no-such"), repr(decode_as(anns["accountId"], "Account"))
    )
    assert (await api.account_row(decode_as(anns["accountId"], "Account")))[0] == 100


async def test_paying_someone_shows_the_transfer_but_not_their_account(api: Api) -> None:
    ann = await newcomer(api, "ann@example.org")
    bob = await newcomer(api, "bob@example.org")
    anns = await open_account(api, ann["accessToken"])
    bobs = await open_account(api, bob["accessToken"])
    await api.ok(
        DEPOSIT, {"i": {"accountId": anns["accountId"], "amount": 50}}, token=ann["accessToken"]
    )

    paid = await api.ok(
        TRANSFER,
        {"i": {"sourceId": anns["accountId"], "targetId": bobs["accountId"], "amount": 20}},
        token=ann["accessToken"],
    )
    anns_view = await api.ok(MY_ACCOUNTS, token=ann["accessToken"])
    bobs_view = await api.ok(MY_ACCOUNTS, token=bob["accessToken"])

    # Each side sees the transfer through its own account; the other account stays hidden.
    assert paid["transfer"]["transfer"]["target"] is None
    [ann_account] = anns_view["accounts"]["edges"]
    [bob_account] = bobs_view["accounts"]["edges"]
    assert ann_account["node"]["transfers"]["edges"] == [
        {"node": {"amount": "20", "source": {"id": anns["accountId"]}, "target": None}}
    ]
    assert bob_account["node"]["transfers"]["edges"] == [
        {"node": {"amount": "20", "source": None, "target": {"id": bobs["accountId"]}}}
    ]
    assert bob_account["node"]["balance"] == "20"


async def test_a_transfers_global_id_is_read_through_its_accounts_owners(api: Api) -> None:
    ann = await newcomer(api, "ann@example.org")
    cid = await newcomer(api, "cid@example.org")
    first = await open_account(api, ann["accessToken"])
    second = await open_account(api, ann["accessToken"])
    await api.ok(
        DEPOSIT, {"i": {"accountId": first["accountId"], "amount": 5}}, token=ann["accessToken"]
    )
    moved = await api.ok(
        TRANSFER,
        {"i": {"sourceId": first["accountId"], "targetId": second["accountId"], "amount": 5}},
        token=ann["accessToken"],
    )
    transfer_id = moved["transfer"]["transferId"]
    query = "query($id: ID!) { node(id: $id) { id } }"

    assert await api.ok(query, {"id": transfer_id}, token=ann["accessToken"]) == {
        "node": {"id": transfer_id}
    }
    assert await api.ok(query, {"id": transfer_id}, token=cid["accessToken"]) == {"node": None}


# Policies in the API: enums, global ids, "@own".

ATTACH = """
mutation($i: AttachPoliciesInput!) {
  attachPolicies(input: $i) { subject { ... on User { policies { resource actions selectors } } } }
}
"""


async def test_policy_selectors_take_global_ids_of_the_resource_and_own(api: Api) -> None:
    admin = api.token_with(*(Policy.of(r, Permission.ALL) for r in ("users", "roles", "accounts")))
    ann = await api.register("ann@example.org")
    account = await api.open_account(ann)
    subject = gid("User", ann)

    attached = await api.ok(
        ATTACH,
        {
            "i": {
                "subjectId": subject,
                "policies": [
                    {
                        "resource": "ACCOUNTS",
                        "actions": ["READ"],
                        "selectors": [gid("Account", account)],
                    },
                    {"resource": "ROLES", "actions": ["READ"], "selectors": ["@own", "auditor"]},
                ],
            }
        },
        token=admin,
    )
    wrong_type = await api.execute(
        ATTACH,
        {
            "i": {
                "subjectId": subject,
                "policies": [{"resource": "ACCOUNTS", "actions": ["READ"], "selectors": [subject]}],
            }
        },
        token=admin,
    )
    unknown_keyword = await api.execute(
        ATTACH,
        {
            "i": {
                "subjectId": subject,
                "policies": [{"resource": "ACCOUNTS", "actions": ["READ"], "selectors": ["@mine"]}],
            }
        },
        token=admin,
    )
    typo = await api.execute(
        ATTACH,
        {"i": {"subjectId": subject, "policies": [{"resource": "acounts", "actions": ["READ"]}]}},
        token=admin,
    )

    policies = attached["attachPolicies"]["subject"]["policies"]
    assert {"resource": "ACCOUNTS", "actions": ["READ"], "selectors": [account]} in policies
    assert {"resource": "ROLES", "actions": ["READ"], "selectors": ["@own", "auditor"]} in policies
    assert wrong_type.codes == ["BAD_USER_INPUT"]
    assert "id of a User" in wrong_type.errors[0]["message"]
    assert unknown_keyword.codes == ["BAD_USER_INPUT"]
    # A misspelt resource is no silent grant: the schema refuses it.
    assert typo.codes == ["BAD_USER_INPUT"]
    assert "Resource" in typo.errors[0]["message"]


async def test_an_own_grant_on_roles_reads_no_role(api: Api) -> None:
    # Roles belong to nobody: "@own" on roles is a grant that reaches nothing.
    admin = api.token_with(Policy.of("roles", Permission.ALL))
    await api.ok(
        'mutation { createRole(input: {code: "auditor", name: "Auditor"}) { roleId } }',
        token=admin,
    )
    token = api.token_with(Policy.of("roles", Permission.READ, "@own"), user_id="u-1")

    seen = await api.ok(
        "query($id: ID!) { roles { edges { node { code } } } role(id: $id) { code } }",
        {"id": gid("Role", "auditor")},
        token=token,
    )

    assert seen == {"roles": {"edges": []}, "role": None}


# Messages a newcomer meets.

CHANGE_OWN = """
mutation($i: ChangePasswordInput!) { changePassword(input: $i) { userId } }
"""


async def test_changing_ones_own_password_without_the_current_one_is_bad_input(api: Api) -> None:
    ann = await newcomer(api, "ann@example.org")

    missing = await api.execute(
        CHANGE_OWN, {"i": {"newPassword": "a new long secret"}}, token=ann["accessToken"]
    )
    wrong = await api.execute(
        CHANGE_OWN,
        {"i": {"currentPassword": "nope", "newPassword": "a new long secret"}},
        token=ann["accessToken"],
    )

    assert missing.codes == ["BAD_USER_INPUT"]
    assert missing.errors[0]["message"] == (
        "currentPassword is required to change your own password"
    )
    assert wrong.codes == ["UNAUTHENTICATED"]


async def test_a_bad_reset_code_is_called_a_code(api: Api) -> None:
    refused = await api.execute(
        'mutation { resetPassword(input: {token: "x.y", newPassword: "long enough"}) '
        "{ passwordChanged } }"
    )
    assert refused.codes == ["BAD_USER_INPUT"]
    message = refused.errors[0]["message"]
    assert re.search(r"\bcode\b", message)
    assert "link" not in message
