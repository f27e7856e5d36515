"""Credentials that must stop working, over GraphQL on both databases.

Reset codes die with any password change, and reset mails are paced per
user; any change of grants leaves no token carrying the old ones (the stale
token is refused with a message saying to refresh); a disabled account
answers like a wrong password.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from integration.entrypoints.support import PASSWORD, Api, failures, gid
from kingdom.adapters.identity.tables import reset_tokens
from kingdom.domain.access import Permission, Policy, compile_policies
from kingdom.services.identity.new_users import NEW_USER_POLICIES
from kingdom.services.identity.password_reset import RESET_MAIL_INTERVAL, RESET_SUBJECT
from kingdom.services.ports import account_key

EMAIL = "ann@example.org"
SESSION = "accessToken refreshToken"
LOGIN = f"""
mutation($email: String!, $password: String!) {{
  login(input: {{email: $email, password: $password}}) {{ {SESSION} }}
}}
"""
REFRESH = f"mutation($t: String!) {{ refresh(input: {{refreshToken: $t}}) {{ {SESSION} }} }}"
REQUEST_RESET = "mutation($e: String!) { requestPasswordReset(input: {email: $e}) { accepted } }"
RESET = """
mutation($t: String!, $p: String!) {
  resetPassword(input: {token: $t, newPassword: $p}) { passwordChanged }
}
"""
CHANGE_PASSWORD = """
mutation($current: String!, $new: String!) {
  changePassword(input: {currentPassword: $current, newPassword: $new}) { userId }
}
"""
READ_ROLES = "{ roles { edges { node { code } } } }"
SEES_THE_ROLE = {"roles": {"edges": [{"node": {"code": "reader"}}]}}
SEES_NOTHING: dict[str, Any] = {"roles": {"edges": []}}
ROLES_READ = {"resource": "ROLES", "actions": ["READ"]}


async def login(api: Api, email: str = EMAIL, password: str = PASSWORD) -> dict[str, Any]:
    session: dict[str, Any] = (await api.ok(LOGIN, {"email": email, "password": password}))["login"]
    return session


# Reset codes


async def reset_code(api: Api, email: str = EMAIL) -> str:
    """Ask for a code and read it from the last mail the workers sent."""
    assert await api.ok(REQUEST_RESET, {"e": email}) == {"requestPasswordReset": {"accepted": True}}
    await api.deliver_events()
    found = re.search(r"Your reset code: (\S+)", api.mailer.sent[-1].body)
    assert found is not None
    return found.group(1)


async def reset_codes_stored(api: Api) -> int:
    async with api.database.engine.connect() as connection:
        return len((await connection.execute(reset_tokens.select())).all())


async def test_resetting_with_the_newer_code_voids_the_older_one(api: Api) -> None:
    await api.register(EMAIL)
    older = await reset_code(api)
    api.clock.advance(RESET_MAIL_INTERVAL)
    newer = await reset_code(api)

    reset = await api.ok(RESET, {"t": newer, "p": "battery staple horse"})
    replayed = await api.execute(RESET, {"t": older, "p": "the attackers choice"})

    assert reset == {"resetPassword": {"passwordChanged": True}}
    assert replayed.codes == ["BAD_USER_INPUT"]
    assert (await api.execute(LOGIN, {"email": EMAIL, "password": "the attackers choice"})).codes
    await login(api, password="battery staple horse")


async def test_changing_the_password_voids_outstanding_codes(api: Api) -> None:
    await api.register(EMAIL)
    session = await login(api)
    code = await reset_code(api)

    await api.ok(
        CHANGE_PASSWORD,
        {"current": PASSWORD, "new": "battery staple horse"},
        token=session["accessToken"],
    )
    refused = await api.execute(RESET, {"t": code, "p": "the attackers choice"})

    assert refused.codes == ["BAD_USER_INPUT"]
    await login(api, password="battery staple horse")


async def test_a_user_gets_one_reset_mail_per_interval_and_the_same_answer_each_time(
    api: Api,
) -> None:
    await api.register(EMAIL)

    answers = []
    for _ in range(10):
        answers.append((await api.execute(REQUEST_RESET, {"e": EMAIL})).body)
        api.clock.advance(timedelta(seconds=29))
    unknown = (await api.execute(REQUEST_RESET, {"e": "nobody@example.org"})).body

    assert answers == [unknown] * 10
    await api.deliver_events()
    resets = [mail.to for mail in api.mailer.sent if mail.subject == RESET_SUBJECT]
    assert resets == [EMAIL]
    assert await reset_codes_stored(api) == 1
    api.clock.advance(RESET_MAIL_INTERVAL)
    await reset_code(api)
    assert [mail.subject for mail in api.mailer.sent].count(RESET_SUBJECT) == 2
    assert await reset_codes_stored(api) == 2


# Changed grants


async def attach_to(api: Api, admin: str, subject_id: str) -> None:
    await api.ok(
        """mutation($input: AttachPoliciesInput!) { attachPolicies(input: $input) { subjectId } }""",
        {"input": {"subjectId": subject_id, "policies": [ROLES_READ]}},
        token=admin,
    )


async def detach_from(api: Api, admin: str, subject_id: str) -> None:
    await api.ok(
        """mutation($input: DetachPoliciesInput!) { detachPolicies(input: $input) { subjectId } }""",
        {"input": {"subjectId": subject_id, "policies": [ROLES_READ]}},
        token=admin,
    )


async def administrator(api: Api) -> str:
    """A test token allowed everything on users and roles, after creating the role "reader"."""
    admin = api.token_with(Policy.of("users", Permission.ALL), Policy.of("roles", Permission.ALL))
    await api.ok(
        """mutation($p: [PolicyInput!]!) {
             createRole(input: {code: "reader", name: "Reader", policies: $p}) { roleId }
           }""",
        {"p": [ROLES_READ]},
        token=admin,
    )
    return admin


async def assert_refused_as_stale(api: Api, token: str) -> None:
    """The token is refused, and the answer says what to do: refresh."""
    old = await api.execute(READ_ROLES, token=token)
    assert old.codes == ["UNAUTHENTICATED"]
    assert "call refresh" in old.errors[0]["message"]


async def assert_refused_then_refreshed_without_the_grant(
    api: Api, session: dict[str, Any]
) -> None:
    """The old access token is refused; a refresh works and its token lacks ``roles:READ``."""
    await assert_refused_as_stale(api, session["accessToken"])
    renewed = (await api.ok(REFRESH, {"t": session["refreshToken"]}))["refresh"]
    assert await api.ok(READ_ROLES, token=renewed["accessToken"]) == SEES_NOTHING
    claims = api.tokens.claims(renewed["accessToken"])
    assert claims is not None
    assert claims.context == compile_policies(NEW_USER_POLICIES)  # the defaults, no more
    assert await api.ok("{ viewer { email } }", token=renewed["accessToken"])


async def test_detaching_a_policy_from_a_user_refuses_its_tokens_at_once(api: Api) -> None:
    ann, admin = await api.register(EMAIL), await administrator(api)
    await attach_to(api, admin, gid("User", ann))
    session = await login(api)
    assert await api.ok(READ_ROLES, token=session["accessToken"]) == SEES_THE_ROLE

    await detach_from(api, admin, gid("User", ann))

    await assert_refused_then_refreshed_without_the_grant(api, session)


async def test_revoking_a_role_refuses_the_users_tokens_at_once(api: Api) -> None:
    ann, admin = await api.register(EMAIL), await administrator(api)
    membership = {"userId": gid("User", ann), "roleId": gid("Role", "reader")}
    await api.ok(
        "mutation($i: AssignRoleInput!) { assignRole(input: $i) { userId } }",
        {"i": membership},
        token=admin,
    )
    session = await login(api)
    assert await api.ok(READ_ROLES, token=session["accessToken"]) == SEES_THE_ROLE

    await api.ok(
        "mutation($i: RevokeRoleInput!) { revokeRole(input: $i) { userId } }",
        {"i": membership},
        token=admin,
    )

    await assert_refused_then_refreshed_without_the_grant(api, session)


async def test_detaching_a_policy_from_a_role_refuses_every_holders_tokens(api: Api) -> None:
    admin = await administrator(api)
    holders = [await api.register(email) for email in (EMAIL, "bob@example.org")]
    await api.register("cid@example.org")
    for holder in holders:
        await api.ok(
            "mutation($i: AssignRoleInput!) { assignRole(input: $i) { userId } }",
            {"i": {"userId": gid("User", holder), "roleId": gid("Role", "reader")}},
            token=admin,
        )
    sessions = [await login(api, email) for email in (EMAIL, "bob@example.org")]
    for session in sessions:
        assert await api.ok(READ_ROLES, token=session["accessToken"]) == SEES_THE_ROLE
    bystander = await login(api, "cid@example.org")

    await detach_from(api, admin, gid("Role", "reader"))

    for session in sessions:
        await assert_refused_then_refreshed_without_the_grant(api, session)
    # Who did not hold the role keeps the token.
    assert await api.ok("{ viewer { email } }", token=bystander["accessToken"])


async def test_attaching_a_policy_refuses_the_users_tokens_and_a_refresh_carries_it(
    api: Api,
) -> None:
    # Not "not allowed" with a token that predates the grant: refused as
    # stale, with the way out in the message.
    ann, admin = await api.register(EMAIL), await administrator(api)
    session = await login(api)
    assert await api.ok(READ_ROLES, token=session["accessToken"]) == SEES_NOTHING

    await attach_to(api, admin, gid("User", ann))

    await assert_refused_as_stale(api, session["accessToken"])
    renewed = (await api.ok(REFRESH, {"t": session["refreshToken"]}))["refresh"]
    assert await api.ok(READ_ROLES, token=renewed["accessToken"]) == SEES_THE_ROLE


async def test_assigning_a_role_refuses_the_users_tokens_and_a_refresh_carries_it(
    api: Api,
) -> None:
    ann, admin = await api.register(EMAIL), await administrator(api)
    session = await login(api)

    await api.ok(
        "mutation($i: AssignRoleInput!) { assignRole(input: $i) { userId } }",
        {"i": {"userId": gid("User", ann), "roleId": gid("Role", "reader")}},
        token=admin,
    )

    await assert_refused_as_stale(api, session["accessToken"])
    renewed = (await api.ok(REFRESH, {"t": session["refreshToken"]}))["refresh"]
    assert await api.ok(READ_ROLES, token=renewed["accessToken"]) == SEES_THE_ROLE


async def test_attaching_a_policy_to_a_role_refuses_its_holders_tokens(api: Api) -> None:
    ann, admin = await api.register(EMAIL), await administrator(api)
    await api.ok(
        "mutation($i: AssignRoleInput!) { assignRole(input: $i) { userId } }",
        {"i": {"userId": gid("User", ann), "roleId": gid("Role", "reader")}},
        token=admin,
    )
    session = await login(api)
    users_read = {"resource": "USERS", "actions": ["READ"]}

    await api.ok(
        """mutation($input: AttachPoliciesInput!) { attachPolicies(input: $input) { subjectId } }""",
        {"input": {"subjectId": gid("Role", "reader"), "policies": [users_read]}},
        token=admin,
    )

    await assert_refused_as_stale(api, session["accessToken"])
    renewed = (await api.ok(REFRESH, {"t": session["refreshToken"]}))["refresh"]
    listed = await api.ok("{ users { totalCount } }", token=renewed["accessToken"])
    assert listed == {"users": {"totalCount": 1}}


# Disabled accounts


async def test_a_disabled_account_answers_like_a_wrong_password(api: Api) -> None:
    ann = await api.register(EMAIL)
    await api.register("bob@example.org")
    await api.ok(
        "mutation($id: ID!) { disableUser(input: {userId: $id}) { userId } }",
        {"id": gid("User", ann)},
        token=await administrator(api),
    )

    answers = [
        (await api.execute(LOGIN, {"email": email, "password": password})).body
        for email, password in [
            (EMAIL, PASSWORD),  # disabled, the right password
            (EMAIL, "wrong password"),  # disabled, a wrong one
            ("bob@example.org", "wrong password"),  # active, a wrong one
            ("nobody@example.org", PASSWORD),  # unknown
        ]
    ]

    assert answers[1:] == [answers[0]] * 3
    [error] = answers[0]["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert error["message"] == "wrong e-mail address or password"
    assert await failures(api, account_key(EMAIL)) == 2  # counted like any failure


async def test_a_disabled_users_refresh_gets_the_answer_of_any_refused_refresh(api: Api) -> None:
    ann = await api.register(EMAIL)
    session = await login(api)
    await api.ok(
        "mutation($id: ID!) { disableUser(input: {userId: $id}) { userId } }",
        {"id": gid("User", ann)},
        token=await administrator(api),
    )

    disabled = await api.execute(REFRESH, {"t": session["refreshToken"]})
    garbage = await api.execute(REFRESH, {"t": "garbage"})

    assert disabled.body == garbage.body
    assert disabled.codes == ["UNAUTHENTICATED"]
