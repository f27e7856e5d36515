"""Writes: every command as a mutation, refused before the handler when not allowed."""

from __future__ import annotations

from integration.entrypoints.support import PASSWORD, Api, gid
from kingdom.domain.access import Permission, Policy

DEPOSIT = """
mutation($input: DepositInput!) {
  deposit(input: $input) { accountId account { balance version } }
}
"""

WITHDRAW = """
mutation($input: WithdrawInput!) {
  withdraw(input: $input) { accountId account { balance version } }
}
"""

TRANSFER = """
mutation($input: TransferInput!) {
  transfer(input: $input) {
    transferId
    transfer { amount source { balance } target { balance } }
  }
}
"""


def _manages(*account_ids: str) -> list[Policy]:
    return [Policy.of("accounts", Permission.READ | Permission.UPDATE, *account_ids)]


async def test_the_ledger_lifecycle_through_mutations(api: Api) -> None:
    owner = await api.register("owner@example.org")
    token = api.token_with(
        Policy.of("accounts", Permission.ALL), Policy.of("users", Permission.READ)
    )

    opened = await api.ok(
        """mutation($input: OpenAccountInput!) {
             openAccount(input: $input) {
               accountId account { currency balance status version owner { email } }
             }
           }""",
        {"input": {"ownerId": gid("User", owner), "currency": "EUR"}},
        token=token,
    )
    source = opened["openAccount"]["accountId"]
    target = (
        await api.ok(
            'mutation($o: ID) { openAccount(input: {ownerId: $o, currency: "EUR"}) { accountId } }',
            {"o": gid("User", owner)},
            token=token,
        )
    )["openAccount"]["accountId"]
    deposited = await api.ok(
        DEPOSIT,
        {"input": {"accountId": source, "amount": "1000", "expectedVersion": 1}},
        token=token,
    )
    withdrawn = await api.ok(WITHDRAW, {"input": {"accountId": source, "amount": 100}}, token=token)
    moved = await api.ok(
        TRANSFER, {"input": {"sourceId": source, "targetId": target, "amount": "900"}}, token=token
    )
    closed = await api.ok(
        """mutation($input: CloseAccountInput!) {
             closeAccount(input: $input) { account { status balance } }
           }""",
        {"input": {"accountId": source}},
        token=token,
    )

    assert opened["openAccount"]["account"] == {
        "currency": "EUR",
        "balance": "0",
        "status": "OPEN",
        "version": 1,
        "owner": {"email": "owner@example.org"},
    }
    assert deposited["deposit"] == {
        "accountId": source,
        "account": {"balance": "1000", "version": 2},
    }
    assert withdrawn["withdraw"]["account"] == {"balance": "900", "version": 3}
    assert moved["transfer"]["transfer"] == {
        "amount": "900",
        "source": {"balance": "0"},
        "target": {"balance": "900"},
    }
    assert closed["closeAccount"]["account"] == {"status": "CLOSED", "balance": "0"}


async def test_a_write_the_caller_may_not_do_is_forbidden_and_writes_nothing(api: Api) -> None:
    owner = await api.register("owner@example.org")
    mine, theirs = await api.open_account(owner, 500), await api.open_account(owner, 500)
    token = api.token_with(*_manages(mine))
    before = (await api.account_row(mine), await api.account_row(theirs), await api.outbox_size())

    deposit = await api.execute(
        DEPOSIT, {"input": {"accountId": gid("Account", theirs), "amount": 1}}, token=token
    )
    # Paying into another's account is allowed (UPDATE on the source only);
    # taking money out of it is not.
    steal = await api.execute(
        TRANSFER,
        {
            "input": {
                "sourceId": gid("Account", theirs),
                "targetId": gid("Account", mine),
                "amount": 1,
            }
        },
        token=token,
    )
    open_one = await api.execute(
        'mutation { openAccount(input: {currency: "EUR"}) { accountId } }', token=token
    )

    assert deposit.codes == ["FORBIDDEN"]
    assert steal.codes == ["FORBIDDEN"]
    assert open_one.codes == ["FORBIDDEN"]
    assert deposit.data is None
    after = (await api.account_row(mine), await api.account_row(theirs), await api.outbox_size())
    assert after == before


async def test_writes_without_a_token_are_unauthenticated(api: Api) -> None:
    owner = await api.register("owner@example.org")
    account = await api.open_account(owner, 500)
    before = await api.account_row(account)

    result = await api.execute(
        DEPOSIT, {"input": {"accountId": gid("Account", account), "amount": 1}}
    )

    assert result.codes == ["UNAUTHENTICATED"]
    assert await api.account_row(account) == before


async def test_a_stale_expected_version_is_a_conflict_and_writes_nothing(api: Api) -> None:
    owner = await api.register("owner@example.org")
    source, target = await api.open_account(owner, 500), await api.open_account(owner)
    token = api.token_with(*_manages(source, target))
    balance, version = await api.account_row(source)
    outbox = await api.outbox_size()
    stale = version - 1

    results = [
        await api.execute(
            DEPOSIT,
            {"input": {"accountId": gid("Account", source), "amount": 1, "expectedVersion": stale}},
            token=token,
        ),
        await api.execute(
            WITHDRAW,
            {"input": {"accountId": gid("Account", source), "amount": 1, "expectedVersion": stale}},
            token=token,
        ),
        await api.execute(
            TRANSFER,
            {
                "input": {
                    "sourceId": gid("Account", source),
                    "targetId": gid("Account", target),
                    "amount": 1,
                    "expectedVersion": stale,
                }
            },
            token=token,
        ),
    ]

    assert [result.codes for result in results] == [["CONFLICT"]] * 3
    assert await api.account_row(source) == (balance, version)
    assert await api.account_row(target) == (0, 1)
    assert await api.outbox_size() == outbox


async def test_insufficient_funds_is_bad_user_input_and_balances_stay(api: Api) -> None:
    owner = await api.register("owner@example.org")
    source, target = await api.open_account(owner, 100), await api.open_account(owner, 7)
    token = api.token_with(*_manages(source, target))
    before = (await api.account_row(source), await api.account_row(target))

    withdraw = await api.execute(
        WITHDRAW, {"input": {"accountId": gid("Account", source), "amount": 101}}, token=token
    )
    transfer = await api.execute(
        TRANSFER,
        {
            "input": {
                "sourceId": gid("Account", source),
                "targetId": gid("Account", target),
                "amount": 101,
            }
        },
        token=token,
    )

    assert withdraw.codes == ["BAD_USER_INPUT"]
    assert transfer.codes == ["BAD_USER_INPUT"]
    assert "insufficient funds" in transfer.errors[0]["message"]
    assert (await api.account_row(source), await api.account_row(target)) == before


async def test_domain_refusals_map_to_their_codes(api: Api) -> None:
    owner = await api.register("owner@example.org")
    account = await api.open_account(owner, 5)
    token = api.token_with(Policy.of("accounts", Permission.ALL))

    negative = await api.execute(
        DEPOSIT, {"input": {"accountId": gid("Account", account), "amount": -5}}, token=token
    )
    missing = await api.execute(
        DEPOSIT, {"input": {"accountId": gid("Account", "nope"), "amount": 5}}, token=token
    )
    not_empty = await api.execute(
        "mutation($id: ID!) { closeAccount(input: {accountId: $id}) { accountId } }",
        {"id": gid("Account", account)},
        token=token,
    )
    wrong_kind = await api.execute(
        DEPOSIT, {"input": {"accountId": gid("User", owner), "amount": 5}}, token=token
    )

    assert negative.codes == ["BAD_USER_INPUT"]
    assert missing.codes == ["NOT_FOUND"]
    assert not_empty.codes == ["CONFLICT"]
    assert wrong_kind.codes == ["BAD_USER_INPUT"]


async def test_identity_mutations(api: Api) -> None:
    admin = api.token_with(
        Policy.of("users", Permission.ALL),
        Policy.of("roles", Permission.ALL),
        Policy.of("accounts", Permission.ALL),
    )

    registered = await api.ok(
        """mutation($input: RegisterUserInput!) { registerUser(input: $input) { userId } }""",
        {"input": {"email": "Bob@Example.org", "displayName": "Bob", "password": PASSWORD}},
    )
    bob = registered["registerUser"]["userId"]
    role = await api.ok(
        """mutation($input: CreateRoleInput!) {
             createRole(input: $input) { roleId role { code name policies { resource actions selectors } } }
           }""",
        {
            "input": {
                "code": "tellers",
                "name": "Tellers",
                "policies": [{"resource": "ACCOUNTS", "actions": ["READ", "UPDATE"]}],
            }
        },
        token=admin,
    )
    role_id = role["createRole"]["roleId"]
    attached = await api.ok(
        """mutation($input: AttachPoliciesInput!) {
             attachPolicies(input: $input) { subject { id ... on User { policies { resource actions selectors } } } }
           }""",
        {
            "input": {
                "subjectId": bob,
                "policies": [{"resource": "USERS", "actions": ["READ"], "selectors": ["x"]}],
            }
        },
        token=admin,
    )
    detached = await api.ok(
        """mutation($input: DetachPoliciesInput!) {
             detachPolicies(input: $input) { subject { ... on User { policies { resource } } } }
           }""",
        {
            "input": {
                "subjectId": bob,
                "policies": [{"resource": "USERS", "actions": ["READ"], "selectors": ["x"]}],
            }
        },
        token=admin,
    )
    assigned = await api.ok(
        """mutation($input: AssignRoleInput!) {
             assignRole(input: $input) { user { roleCodes roles { code } } }
           }""",
        {"input": {"userId": bob, "roleId": role_id}},
        token=admin,
    )
    revoked = await api.ok(
        """mutation($input: RevokeRoleInput!) { revokeRole(input: $input) { user { roleCodes } } }""",
        {"input": {"userId": bob, "roleId": role_id}},
        token=admin,
    )

    assert role["createRole"]["role"] == {
        "code": "tellers",
        "name": "Tellers",
        "policies": [{"resource": "ACCOUNTS", "actions": ["READ", "UPDATE"], "selectors": ["*"]}],
    }
    # Bob holds the new-user defaults ("@own") besides what was attached.
    defaults = [
        {
            "resource": "ACCOUNTS",
            "actions": ["READ", "CREATE", "UPDATE", "DELETE"],
            "selectors": ["@own"],
        },
        {"resource": "USERS", "actions": ["READ", "UPDATE"], "selectors": ["@own"]},
    ]
    assert attached["attachPolicies"]["subject"] == {
        "id": bob,
        "policies": [*defaults, {"resource": "USERS", "actions": ["READ"], "selectors": ["x"]}],
    }
    assert detached["detachPolicies"]["subject"] == {
        "policies": [{"resource": "ACCOUNTS"}, {"resource": "USERS"}]
    }
    assert assigned["assignRole"]["user"] == {
        "roleCodes": ["tellers"],
        "roles": [{"code": "tellers"}],
    }
    assert revoked["revokeRole"]["user"] == {"roleCodes": []}


async def test_passwords_change_reset_and_disable(api: Api) -> None:
    bob = await api.register("bob@example.org")
    own = api.token_with(user_id=bob)
    change = (
        """mutation($input: ChangePasswordInput!) { changePassword(input: $input) { userId } }"""
    )
    login = """mutation($p: String!) {
      login(input: {email: "bob@example.org", password: $p}) { accessToken }
    }"""

    wrong = await api.execute(
        change,
        {"input": {"currentPassword": "nope", "newPassword": "a new long secret"}},
        token=own,
    )
    changed = await api.ok(
        change,
        {"input": {"currentPassword": PASSWORD, "newPassword": "a new long secret"}},
        token=own,
    )
    anonymous = await api.execute(change, {"input": {"newPassword": "another long secret"}})
    requested = await api.ok(
        'mutation { requestPasswordReset(input: {email: "bob@example.org"}) { accepted } }'
    )
    secret = api.secrets.issued[-1]  # bob's code (sessions draw secrets too)
    unknown = await api.ok(
        'mutation { requestPasswordReset(input: {email: "who@example.org"}) { accepted } }'
    )
    reset = await api.ok(
        """mutation($t: String!) {
             resetPassword(input: {token: $t, newPassword: "the third long secret"}) { passwordChanged }
           }""",
        {"t": secret},
    )
    reused = await api.execute(
        """mutation($t: String!) {
             resetPassword(input: {token: $t, newPassword: "the fourth long secret"}) { passwordChanged }
           }""",
        {"t": secret},
    )
    logged_in = await api.execute(login, {"p": "the third long secret"})
    disabled = await api.ok(
        "mutation($id: ID!) { disableUser(input: {userId: $id}) { user { status } } }",
        {"id": gid("User", bob)},
        token=api.token_with(Policy.of("users", Permission.ALL)),
    )
    refused = await api.execute(login, {"p": "the third long secret"})

    assert wrong.codes == ["UNAUTHENTICATED"]
    assert changed == {"changePassword": {"userId": gid("User", bob)}}
    assert anonymous.codes == ["UNAUTHENTICATED"]
    assert requested == unknown == {"requestPasswordReset": {"accepted": True}}
    assert reset == {"resetPassword": {"passwordChanged": True}}
    assert reused.codes == ["BAD_USER_INPUT"]
    assert logged_in.status == 200
    assert not logged_in.errors
    assert disabled == {"disableUser": {"user": {"status": "DISABLED"}}}
    assert refused.codes == ["UNAUTHENTICATED"]


async def test_granting_what_one_does_not_hold_is_forbidden(api: Api) -> None:
    bob = await api.register("bob@example.org")
    # May edit users, but holds no accounts grant to hand out.
    token = api.token_with(Policy.of("users", Permission.ALL))

    result = await api.execute(
        """mutation($input: AttachPoliciesInput!) { attachPolicies(input: $input) { subjectId } }""",
        {
            "input": {
                "subjectId": gid("User", bob),
                "policies": [{"resource": "ACCOUNTS", "actions": ["READ"]}],
            }
        },
        token=token,
    )
    on_role = await api.execute(
        """mutation($input: AttachPoliciesInput!) { attachPolicies(input: $input) { subjectId } }""",
        {
            "input": {
                "subjectId": gid("Role", "tellers"),
                "policies": [{"resource": "USERS", "actions": ["READ"]}],
            }
        },
        token=token,
    )

    assert result.codes == ["FORBIDDEN"]
    assert on_role.codes == ["FORBIDDEN"]  # UPDATE on users is not UPDATE on roles
