"""The GraphQL API end to end: a real server process over HTTP, on SQLite and on Postgres.

One server per backend serves every test in this module (starting one takes
seconds), so each test makes its own users and accounts and never assumes an
empty database.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from jwt.utils import base64url_encode

from e2e.client import GraphQLClient
from e2e.server import RunningServer, run_server
from kingdom.domain.access import Permission, Policy, compile_policies
from kingdom.entrypoints.graphql.global_ids import decode
from kingdom.entrypoints.secrets import key_id

SIGNING_KEY = "e2e-signing-key-0123456789abcdefghijklmnopqrstuvwxyz"
KID = key_id(SIGNING_KEY.encode())
ISSUER, AUDIENCE = "kingdom", "kingdom-api"
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@kingdom.local", "admin password for e2e"
PASSWORD = "correct horse battery"
ACCOUNTS = 250
"""Accounts made for the paging test, one openAccount request each."""

ACCOUNTS_PAGE = """
query($first: Int, $after: String, $last: Int, $before: String) {
  accounts(first: $first, after: $after, last: $last, before: $before) {
    totalCount
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""
OPEN_ACCOUNT = """
mutation($input: OpenAccountInput!) { openAccount(input: $input) { accountId } }
"""
DEPOSIT = """
mutation($input: DepositInput!) { deposit(input: $input) { account { balance version } } }
"""
TRANSFER = """
mutation($input: TransferInput!) {
  transfer(input: $input) { transferId transfer { amount source { balance } target { balance } } }
}
"""
ACCOUNT_STATE = """
query($id: ID!) { account(id: $id) { balance version transfers { totalCount } } }
"""
LOGIN = """
mutation($input: LoginInput!) { login(input: $input) { accessToken } }
"""


@dataclass
class Client(GraphQLClient):

    def login(self, email: str, password: str = PASSWORD) -> str:
        data = self.ok(LOGIN, {"input": {"email": email, "password": password}})
        token: str = data["login"]["accessToken"]
        return token

    def register(self, email: str) -> str:
        data = self.ok(
            "mutation($input: RegisterUserInput!) { registerUser(input: $input) { userId } }",
            {"input": {"email": email, "displayName": email.split("@")[0], "password": PASSWORD}},
        )
        user_id: str = data["registerUser"]["userId"]
        return user_id

    def open_account(self, token: str, balance: int = 0) -> str:
        account: str = self.ok(OPEN_ACCOUNT, {"input": {"currency": "EUR"}}, token=token)[
            "openAccount"
        ]["accountId"]
        if balance:
            self.ok(DEPOSIT, {"input": {"accountId": account, "amount": balance}}, token=token)
        return account

    def account(self, token: str, account_id: str) -> Any:
        return self.ok(ACCOUNT_STATE, {"id": account_id}, token=token)["account"]


@pytest.fixture(scope="module")
def server(
    backend: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    data_dir: Path = tmp_path_factory.mktemp("data")
    env = {
        "KINGDOM_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "KINGDOM_TOKEN_SIGNING_KEY": SIGNING_KEY,
        **backend,
    }
    with run_server(data_dir, env) as running:
        yield running


@pytest.fixture()
def api(server: RunningServer) -> Iterator[Client]:
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        yield Client(http)


@pytest.fixture()
def admin(api: Client) -> str:
    return api.login(ADMIN_EMAIL, ADMIN_PASSWORD)


def _unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@example.org"


def _raw(global_id: str) -> str:
    return decode(global_id)[1]


# 1. Instance-level grants through a role.


def test_a_role_granting_two_accounts_scopes_reads_and_forbids_other_writes(
    api: Client, admin: str
) -> None:
    accounts = [api.open_account(admin, balance=10 * (n + 1)) for n in range(4)]
    granted, others = accounts[:2], accounts[2:]
    code = f"readers-{uuid.uuid4().hex[:8]}"
    role = api.ok(
        """mutation($input: CreateRoleInput!) {
             createRole(input: $input) { roleId role { policies { resource actions selectors } } }
           }""",
        {
            "input": {
                "code": code,
                "name": "Readers of two accounts",
                "policies": [
                    {
                        "resource": "ACCOUNTS",
                        "actions": ["READ"],
                        "selectors": [_raw(a) for a in granted],
                    }
                ],
            }
        },
        token=admin,
    )["createRole"]
    email = _unique("reader")
    user_id = api.register(email)
    assigned = api.ok(
        "mutation($input: AssignRoleInput!) { assignRole(input: $input) { user { roleCodes } } }",
        {"input": {"userId": user_id, "roleId": role["roleId"]}},
        token=admin,
    )
    user = api.login(email)

    seen = api.ok(
        """query($ids: [ID!]!, $g0: ID!, $g1: ID!, $o0: ID!, $o1: ID!) {
             accounts(first: 100) { totalCount edges { node { id balance } } }
             g0: node(id: $g0) { id } g1: node(id: $g1) { id }
             o0: node(id: $o0) { id } o1: node(id: $o1) { id }
             nodes(ids: $ids) { id }
           }""",
        {
            "ids": accounts,
            "g0": granted[0],
            "g1": granted[1],
            "o0": others[0],
            "o1": others[1],
        },
        token=user,
    )
    deposit = api.execute(DEPOSIT, {"input": {"accountId": others[0], "amount": 5}}, token=user)
    steal = api.execute(
        TRANSFER,
        {"input": {"sourceId": others[1], "targetId": granted[0], "amount": 5}},
        token=user,
    )
    open_one = api.execute(OPEN_ACCOUNT, {"input": {"currency": "EUR"}}, token=user)
    everything = api.ok(
        """query($ids: [ID!]!) { accounts(first: 100) { totalCount } nodes(ids: $ids) { id } }""",
        {"ids": accounts},
        token=admin,
    )
    admin_listing = _walk(api, admin, forward=True, size=100)

    [policy] = role["role"]["policies"]
    assert (policy["resource"], policy["actions"]) == ("ACCOUNTS", ["READ"])
    assert sorted(policy["selectors"]) == sorted(_raw(a) for a in granted)
    assert code in assigned["assignRole"]["user"]["roleCodes"]
    assert seen["accounts"] == {
        "totalCount": 2,
        "edges": [
            {"node": {"id": account, "balance": str(10 * (accounts.index(account) + 1))}}
            for account in sorted(granted, key=_raw)
        ],
    }
    assert (seen["g0"], seen["g1"]) == ({"id": granted[0]}, {"id": granted[1]})
    assert (seen["o0"], seen["o1"]) == (None, None)
    assert seen["nodes"] == [{"id": granted[0]}, {"id": granted[1]}, None, None]
    assert (deposit.codes, steal.codes) == (["FORBIDDEN"],) * 2
    # Every new user may open accounts of its own ("@own"), not touch others'.
    assert open_one.codes == [], open_one.body
    assert [api.account(admin, a)["balance"] for a in accounts] == ["10", "20", "30", "40"]
    assert everything["nodes"] == [{"id": a} for a in accounts]
    listed = _ids(admin_listing)
    assert set(accounts) <= set(listed)
    assert everything["accounts"]["totalCount"] == len(listed) >= 4


# 2. Paging.


def _walk(api: Client, token: str, *, forward: bool, size: int) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        variables = (
            {"first": size, "after": cursor} if forward else {"last": size, "before": cursor}
        )
        page = api.ok(ACCOUNTS_PAGE, variables, token=token)["accounts"]
        pages.append(page)
        info = page["pageInfo"]
        if not (info["hasNextPage"] if forward else info["hasPreviousPage"]):
            return pages
        cursor = info["endCursor"] if forward else info["startCursor"]
        assert len(pages) < 100, "the walk does not end"


def _ids(pages: list[dict[str, Any]]) -> list[str]:
    return [edge["node"]["id"] for page in pages for edge in page["edges"]]


def test_paging_forward_and_backward_returns_each_account_once_in_order(
    api: Client, admin: str
) -> None:
    before = set(_ids(_walk(api, admin, forward=True, size=100)))
    started = time.monotonic()
    created = [api.open_account(admin) for _ in range(ACCOUNTS)]
    print(f"opened {ACCOUNTS} accounts over HTTP in {time.monotonic() - started:.1f} s")
    expected = sorted(before | set(created), key=_raw)

    forward = _walk(api, admin, forward=True, size=40)
    backward = _walk(api, admin, forward=False, size=40)

    assert len(expected) >= ACCOUNTS
    assert _ids(forward) == expected
    assert _ids(list(reversed(backward))) == expected
    assert {page["totalCount"] for page in forward + backward} == {len(expected)}
    assert all(len(page["edges"]) == 40 for page in forward[:-1] + backward[:-1])
    for page in forward + backward:
        info = page["pageInfo"]
        assert info["startCursor"] == page["edges"][0]["cursor"]
        assert info["endCursor"] == page["edges"][-1]["cursor"]
    first, last = forward[0]["pageInfo"], forward[-1]["pageInfo"]
    assert (first["hasPreviousPage"], first["hasNextPage"]) == (False, True)
    assert (last["hasPreviousPage"], last["hasNextPage"]) == (True, False)
    newest, oldest = backward[0]["pageInfo"], backward[-1]["pageInfo"]
    assert (newest["hasPreviousPage"], newest["hasNextPage"]) == (True, False)
    assert (oldest["hasPreviousPage"], oldest["hasNextPage"]) == (False, True)


def test_a_forged_cursor_is_bad_user_input(api: Client, admin: str) -> None:
    api.open_account(admin)
    cursor = api.ok(ACCOUNTS_PAGE, {"first": 1}, token=admin)["accounts"]["pageInfo"]["endCursor"]
    payload, dot, mac = cursor.partition(".")
    assert dot, cursor
    tampered = f"{payload[:-1]}{'A' if payload[-1] != 'A' else 'B'}.{mac}"

    for forged in (tampered, f"{payload}.{mac[::-1]}", "not-a-cursor"):
        result = api.execute(ACCOUNTS_PAGE, {"first": 1, "after": forged}, token=admin)
        assert result.status == 200, forged
        assert result.codes == ["BAD_USER_INPUT"], (forged, result.body)


# 3. Transfers.


def test_transfer_conflict_and_insufficient_funds_write_nothing(api: Client, admin: str) -> None:
    source, target = api.open_account(admin, balance=100), api.open_account(admin)
    version = api.account(admin, source)["version"]

    moved = api.ok(
        TRANSFER,
        {
            "input": {
                "sourceId": source,
                "targetId": target,
                "amount": "30",
                "expectedVersion": version,
            }
        },
        token=admin,
    )["transfer"]
    after_transfer = (api.account(admin, source), api.account(admin, target))
    stale = api.execute(
        TRANSFER,
        {
            "input": {
                "sourceId": source,
                "targetId": target,
                "amount": 1,
                "expectedVersion": version,
            }
        },
        token=admin,
    )
    after_stale = (api.account(admin, source), api.account(admin, target))
    broke = api.execute(
        TRANSFER, {"input": {"sourceId": source, "targetId": target, "amount": 71}}, token=admin
    )
    after_broke = (api.account(admin, source), api.account(admin, target))

    assert moved["transfer"] == {
        "amount": "30",
        "source": {"balance": "70"},
        "target": {"balance": "30"},
    }
    assert after_transfer == (
        {"balance": "70", "version": version + 1, "transfers": {"totalCount": 1}},
        {"balance": "30", "version": 2, "transfers": {"totalCount": 1}},
    )
    assert stale.codes == ["CONFLICT"]
    assert stale.data is None
    assert after_stale == after_transfer
    assert broke.codes == ["BAD_USER_INPUT"]
    assert "insufficient funds" in broke.body["errors"][0]["message"]
    assert after_broke == after_transfer


# 4. Access tokens.


def _sign(claims: Mapping[str, Any], key: str = SIGNING_KEY, kid: str = KID) -> str:
    return jwt.encode(dict(claims), key, algorithm="HS256", headers={"kid": kid})


def _segment(data: Mapping[str, Any]) -> str:
    return base64url_encode(json.dumps(dict(data)).encode()).decode()


def _claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        token, SIGNING_KEY, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER
    )
    return claims


def _fresh(claims: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    return {**claims, "iat": now, "nbf": now, "exp": now + 300, "jti": uuid.uuid4().hex, **changes}


VIEWER = "{ viewer { id email } }"


def test_only_a_valid_current_token_is_accepted(api: Client, admin: str) -> None:
    email = _unique("holder")
    user_id = api.register(email)
    issued = api.login(email)
    claims = _claims_of(issued)
    header = jwt.get_unverified_header(issued)
    head, _, signature = issued.split(".")
    now = int(time.time())
    # The user's own claims with every permission, under the real signature.
    everything = [Policy.of(name, Permission.ALL) for name in ("accounts", "roles", "users")]
    elevated = {**claims, "pol": compile_policies(everything).encode()}

    refused = {
        "expired": _sign(
            _fresh(claims, iat=now - 7200, nbf=now - 7200, exp=now - 3600),
        ),
        "wrong audience": _sign(_fresh(claims, aud="someone-else")),
        "wrong issuer": _sign(_fresh(claims, iss="not-kingdom")),
        "tampered": f"{head}.{_segment(elevated)}.{signature}",
        "alg none": f"{_segment({'alg': 'none', 'typ': 'JWT', 'kid': KID})}.{_segment(_fresh(claims))}.",
        "other key": _sign(_fresh(claims), key="another-secret-0123456789abcdefghijklmnop"),
        "not an access token": _sign(_fresh(claims, typ="refresh")),
    }
    forged_valid = _sign(_fresh(claims))
    accepted = [api.execute(VIEWER, token=token) for token in (issued, forged_valid)]
    results = {name: api.execute(VIEWER, token=token) for name, token in refused.items()}

    assert header == {"alg": "HS256", "typ": "JWT", "kid": KID}
    assert (claims["iss"], claims["aud"], claims["typ"]) == (ISSUER, AUDIENCE, "access")
    for result in accepted:
        assert result.status == 200, result.body
        assert result.data == {"viewer": {"id": user_id, "email": email}}
    for name, result in results.items():
        assert (result.status, result.codes) == (401, ["UNAUTHENTICATED"]), (name, result.body)


def test_changing_the_password_revokes_older_tokens(api: Client) -> None:
    email = _unique("changer")
    user_id = api.register(email)
    old = api.login(email)
    old_claims = _claims_of(old)

    changed = api.ok(
        "mutation($input: ChangePasswordInput!) { changePassword(input: $input) { userId } }",
        {"input": {"currentPassword": PASSWORD, "newPassword": "a brand new long secret"}},
        token=old,
    )
    stale = api.execute(VIEWER, token=old)
    stale_forged = api.execute(VIEWER, token=_sign(_fresh(old_claims)))
    new = api.login(email, "a brand new long secret")
    current = api.execute(VIEWER, token=new)
    current_forged = api.execute(VIEWER, token=_sign(_fresh(_claims_of(new))))

    assert changed == {"changePassword": {"userId": user_id}}
    assert _claims_of(new)["tv"] != old_claims["tv"]
    assert (stale.status, stale.codes) == (401, ["UNAUTHENTICATED"])
    assert (stale_forged.status, stale_forged.codes) == (401, ["UNAUTHENTICATED"])
    assert current.data == current_forged.data == {"viewer": {"id": user_id, "email": email}}
