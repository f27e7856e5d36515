"""The audit trail over GraphQL: a scripted history, delivered twice to the real consumer.

The history is made through the API (register, roles and policies, accounts,
money, a revoked role, a new password); the committed events are then read
back from the outbox, decoded as the workers decode them and handed to the
consumer twice each (the queue delivers at least once). ``auditLog`` must
then list exactly one entry per event, newest first, and every walk through
it, forward or backward, filtered or not, must match the plain sorted list.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from integration.adapters.support import outbox_rows
from integration.entrypoints.support import PASSWORD, Api, gid, running_api
from kingdom.adapters.sql.event_codec import decode
from kingdom.adapters.sql.unit_of_work import SqlUnitOfWork
from kingdom.domain.access import OWN_INSTANCES, Actor, Permission, Policy, compile_policies
from kingdom.domain.shared import Event
from kingdom.entrypoints.graphql.global_ids import decode_as
from kingdom.services import audit
from kingdom.services.consumers import build_consumer
from kingdom.services.fakes import superuser
from kingdom.services.identity.new_users import NEW_USER_POLICIES
from kingdom.services.ports import AuditEntry

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACE_PARENT = f"00-{TRACE}-00f067aa0ba902b7-01"
STEP = timedelta(minutes=1)

AUDIT_PAGE = """
query Audit($first: Int, $after: String, $last: Int, $before: String, $filter: AuditFilter) {
  auditLog(first: $first, after: $after, last: $last, before: $before, filter: $filter) {
    totalCount
    edges {
      cursor
      node { id eventType subjectType subjectId occurredAt recordedAt summary relatedIds traceId }
    }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


@pytest.fixture()
async def api(database_url: str) -> AsyncIterator[Api]:
    async with running_api(database_url, audit=True) as running:
        yield running


async def deliver_outbox(api: Api, trace_parents: Mapping[str, str] | None = None) -> None:
    """Hand every committed event to the audit consumer twice, as a queue may.

    ``trace_parents`` maps an event type to the ``traceparent`` its first
    delivery carries.
    """
    consumer = build_consumer(
        uow_factory=lambda: SqlUnitOfWork(api.database),
        dependencies={"clock": api.clock},
        handlers=audit.HANDLERS,
    )
    rows = await outbox_rows(api.database)
    events: list[tuple[str, Event]] = [
        (row["event_type"], decode(row["event_type"], row["schema_version"], row["payload"]))
        for row in rows
    ]
    for event_type, event in events:
        await consumer.consume(event, trace_parent=(trace_parents or {}).get(event_type))
    for _, event in reversed(events):  # again, in another order
        await consumer.consume(event)


@dataclass(frozen=True)
class Expected:
    """One entry the history must leave: what, about which node, when."""

    event_type: str
    subject_type: str
    subject_id: str  # a global id
    at: datetime


@dataclass
class History:
    admin: str
    """A token of the administrator (every policy)."""
    ann: str
    """Ann's user id."""
    ann_token: str
    """A token with Ann's own grants (the new-user defaults)."""
    accounts: tuple[str, str]
    transfer: str
    entries: list[Expected]
    """Oldest first."""
    recorded_at: datetime


async def make_history(api: Api) -> History:
    """The scripted history through the API, delivered to the consumer."""
    entries: list[Expected] = []

    def step(event_type: str, subject_type: str, subject_id: str) -> None:
        """Expect an entry for what just happened, then let a minute pass."""
        entries.append(Expected(event_type, subject_type, subject_id, api.clock.now()))
        api.clock.advance(STEP)

    admin_id = await api.register("admin@example.org", "Admin")
    admin = api.token_for(superuser(admin_id))
    step("identity.UserRegistered", "user", gid("User", admin_id))

    registered = await api.ok(
        """mutation { registerUser(input: {email: "ann@example.org", displayName: "Ann",
             password: "correct horse battery"}) { userId } }"""
    )
    ann_gid = registered["registerUser"]["userId"]
    step("identity.UserRegistered", "user", ann_gid)
    ann_raw = decode_as(ann_gid, "User")
    # Ann acts with the grants every newcomer gets (a test token: never stale).
    ann_token = api.token_for(Actor(ann_raw, compile_policies(NEW_USER_POLICIES)))

    await api.ok(
        """mutation { createRole(input: {code: "teller", name: "Tellers",
             policies: [{resource: ACCOUNTS, actions: [READ]}]}) { roleId } }""",
        token=admin,
    )
    step("identity.RoleCreated", "role", gid("Role", "teller"))
    await api.ok(
        "mutation($u: ID!, $r: ID!) { assignRole(input: {userId: $u, roleId: $r}) { userId } }",
        {"u": ann_gid, "r": gid("Role", "teller")},
        token=admin,
    )
    step("identity.RoleAssigned", "user", ann_gid)
    await api.ok(
        """mutation($s: ID!) { attachPolicies(input: {subjectId: $s,
             policies: [{resource: ROLES, actions: [READ]}]}) { subjectId } }""",
        {"s": ann_gid},
        token=admin,
    )
    step("identity.PoliciesAttached", "user", ann_gid)

    opened = []
    for _ in range(2):
        result = await api.ok(
            'mutation { openAccount(input: {currency: "EUR"}) { accountId } }', token=ann_token
        )
        account = result["openAccount"]["accountId"]
        opened.append(account)
        step("ledger.AccountOpened", "account", account)
        if len(opened) == 1:
            await api.ok(
                "mutation($a: ID!) { deposit(input: {accountId: $a, amount: 1000}) { accountId } }",
                {"a": account},
                token=ann_token,
            )
            step("ledger.FundsDeposited", "account", account)
    source, target = opened
    moved = await api.ok(
        """mutation($a: ID!, $b: ID!) {
             transfer(input: {sourceId: $a, targetId: $b, amount: 250}) { transferId } }""",
        {"a": source, "b": target},
        token=ann_token,
    )
    step("ledger.TransferCompleted", "account", source)
    await api.ok(
        "mutation($u: ID!, $r: ID!) { revokeRole(input: {userId: $u, roleId: $r}) { userId } }",
        {"u": ann_gid, "r": gid("Role", "teller")},
        token=admin,
    )
    step("identity.RoleRevoked", "user", ann_gid)
    await api.ok(
        """mutation { changePassword(input: {currentPassword: "correct horse battery",
             newPassword: "a brand new passphrase"}) { userId } }""",
        token=ann_token,
    )
    step("identity.PasswordChanged", "user", ann_gid)

    recorded_at = api.clock.now()
    await deliver_outbox(api, {"ledger.TransferCompleted": TRACE_PARENT})
    return History(
        admin=admin,
        ann=ann_raw,
        ann_token=ann_token,
        accounts=(source, target),
        transfer=moved["transfer"]["transferId"],
        entries=entries,
        recorded_at=recorded_at,
    )


def _moment(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _shown(expected: Sequence[Expected]) -> list[tuple[str, str, str, str]]:
    """Expected entries as ``auditLog`` shows them, newest first."""
    return [
        (e.event_type, e.subject_type, e.subject_id, _moment(e.at))
        for e in sorted(expected, key=lambda e: e.at, reverse=True)
    ]


def _seen(nodes: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, str, str]]:
    return [(n["eventType"], n["subjectType"], n["subjectId"], n["occurredAt"]) for n in nodes]


async def walk(
    api: Api, token: str, filter: Mapping[str, Any] | None, *, forward: bool, size: int
) -> tuple[list[dict[str, Any]], int]:
    """Every node of ``auditLog`` under ``filter``, page by page, in listing order; the total."""
    nodes: list[dict[str, Any]] = []
    cursor: str | None = None
    totals = set()
    for page_number in range(50):
        variables: dict[str, Any] = {"filter": filter}
        if forward:
            variables.update(first=size, after=cursor)
        else:
            variables.update(last=size, before=cursor)
        page = (await api.ok(AUDIT_PAGE, variables, token=token))["auditLog"]
        edges, info = page["edges"], page["pageInfo"]
        totals.add(page["totalCount"])
        page_nodes = [edge["node"] for edge in edges]
        nodes = nodes + page_nodes if forward else page_nodes + nodes
        if edges:
            assert info["startCursor"] == edges[0]["cursor"]
            assert info["endCursor"] == edges[-1]["cursor"]
        # The side we came from has items exactly when this is not the first page.
        behind = info["hasPreviousPage"] if forward else info["hasNextPage"]
        assert behind == (page_number > 0 and bool(edges)), (page_number, info)
        more = info["hasNextPage"] if forward else info["hasPreviousPage"]
        if not more:
            assert len(totals) == 1, totals
            return nodes, totals.pop()
        cursor = info["endCursor"] if forward else info["startCursor"]
    raise AssertionError("the walk does not end")


async def test_the_history_is_listed_once_per_event_newest_first(api: Api) -> None:
    history = await make_history(api)

    page = (await api.ok(AUDIT_PAGE, {"first": 100}, token=history.admin))["auditLog"]

    nodes = [edge["node"] for edge in page["edges"]]
    assert _seen(nodes) == _shown(history.entries)
    assert page["totalCount"] == len(history.entries) == 11
    assert page["pageInfo"]["hasNextPage"] is False
    assert page["pageInfo"]["hasPreviousPage"] is False
    assert {node["recordedAt"] for node in nodes} == {_moment(history.recorded_at)}
    transfer = next(n for n in nodes if n["eventType"] == "ledger.TransferCompleted")
    source, target = history.accounts
    assert transfer["traceId"] == TRACE
    assert set(transfer["relatedIds"]) == {
        decode_as(target, "Account"),
        decode_as(history.transfer, "Transfer"),
    }
    assert transfer["summary"].startswith("transferred 250 from ")
    assert [n["traceId"] for n in nodes if n is not transfer] == [None] * 10
    # Ids are global ids that `node` finds.
    assert len({node["id"] for node in nodes}) == len(nodes)


async def test_walks_forward_and_backward_match_the_sorted_list_under_every_filter(
    api: Api,
) -> None:
    history = await make_history(api)
    entries = history.entries
    source = history.accounts[0]
    ann = gid("User", history.ann)
    window = (entries[3].at, entries[8].at)  # since inclusive, until exclusive
    money = ["ledger.AccountOpened", "ledger.TransferCompleted", "ledger.FundsDeposited"]
    two_hours_ahead = (window[0] + timedelta(hours=2)).isoformat().replace("+00:00", "+02:00")
    cases: list[tuple[dict[str, Any] | None, Callable[[Expected], bool]]] = [
        (None, lambda e: True),
        ({"subjectId": ann}, lambda e: e.subject_id == ann),
        ({"subjectId": source}, lambda e: e.subject_id == source),
        ({"subjectId": gid("Role", "teller")}, lambda e: e.subject_type == "role"),
        ({"types": money}, lambda e: e.event_type in money),
        (
            {"types": ["identity.RoleAssigned", "identity.RoleRevoked"]},
            lambda e: e.event_type in ("identity.RoleAssigned", "identity.RoleRevoked"),
        ),
        (
            {"since": _moment(window[0]), "until": _moment(window[1])},
            lambda e: window[0] <= e.at < window[1],
        ),
        # The same instant with another offset is the same filter.
        ({"since": two_hours_ahead}, lambda e: e.at >= window[0]),
        (
            {"subjectId": ann, "types": ["identity.RoleRevoked", "identity.PasswordChanged"]},
            lambda e: e.subject_id == ann
            and e.event_type in ("identity.RoleRevoked", "identity.PasswordChanged"),
        ),
        ({"subjectId": source, "until": _moment(window[0])}, lambda e: False),
        ({"actorId": ann, "types": money}, lambda e: False),  # events name no actor yet
    ]
    for filter, wanted in cases:
        expected = _shown([e for e in entries if wanted(e)])
        for forward in (True, False):
            for size in (1, 3):
                nodes, total = await walk(api, history.admin, filter, forward=forward, size=size)
                assert _seen(nodes) == expected, (filter, forward, size)
                assert total == len(expected), filter


async def test_a_cursor_holds_only_for_the_filter_it_came_with(api: Api) -> None:
    history = await make_history(api)
    page = await api.ok(AUDIT_PAGE, {"first": 2}, token=history.admin)
    cursor = page["auditLog"]["pageInfo"]["endCursor"]
    filtered = {"types": ["ledger.AccountOpened"]}

    same = await api.execute(AUDIT_PAGE, {"first": 2, "after": cursor}, token=history.admin)
    other = await api.execute(
        AUDIT_PAGE, {"first": 2, "after": cursor, "filter": filtered}, token=history.admin
    )

    assert not same.errors
    assert other.codes == ["BAD_USER_INPUT"]


async def test_only_callers_who_may_read_the_audit_trail_get_it(api: Api) -> None:
    history = await make_history(api)
    query = "{ auditLog(first: 5) { totalCount edges { node { id } } } }"
    everything_else = api.token_with(
        *(Policy.of(r, Permission.ALL) for r in ("users", "roles", "accounts"))
    )
    own_only = api.token_with(Policy.of("audit", Permission.READ, OWN_INSTANCES))

    refused = [
        await api.execute(query, token=token)
        for token in (history.ann_token, everything_else, own_only)
    ]
    anonymous = await api.execute(query)
    allowed = await api.ok(query, token=api.token_with(Policy.of("audit", Permission.READ)))

    for result in refused:
        assert result.status == 200
        assert result.codes == ["FORBIDDEN"], result.body
        assert result.data is None
    assert anonymous.codes == ["UNAUTHENTICATED"]
    assert allowed["auditLog"]["totalCount"] == len(history.entries)


async def test_a_role_granting_audit_read_opens_the_trail_to_its_holders(api: Api) -> None:
    history = await make_history(api)
    bob = await api.ok(
        """mutation { registerUser(input: {email: "bob@example.org", displayName: "Bob",
             password: "correct horse battery"}) { userId } }"""
    )
    await api.ok(
        """mutation { createRole(input: {code: "auditor", name: "Auditors",
             policies: [{resource: AUDIT, actions: [READ]}]}) { role { policies { resource } } } }""",
        token=history.admin,
    )
    await api.ok(
        "mutation($u: ID!, $r: ID!) { assignRole(input: {userId: $u, roleId: $r}) { userId } }",
        {"u": bob["registerUser"]["userId"], "r": gid("Role", "auditor")},
        token=history.admin,
    )
    login = await api.ok(
        'mutation($p: String!) { login(input: {email: "bob@example.org", password: $p}) {'
        " accessToken } }",
        {"p": PASSWORD},
    )
    token = login["login"]["accessToken"]

    page = await api.ok("{ auditLog { totalCount } }", token=token)

    # Bob's registration and the role are not delivered yet: the history alone.
    assert page == {"auditLog": {"totalCount": len(history.entries)}}


@pytest.mark.parametrize(
    "filter",
    [
        {"subjectId": "not an id"},
        {"subjectId": "QWNjb3VudDp4"[:-1]},  # a truncated global id
        {"subjectId": gid("Transfer", "t-1")},  # recorded under its source account
        {"subjectId": gid("AuditEntry", "m-1")},
        {"actorId": gid("Account", "a-1")},
        {"actorId": "junk"},
        {"types": ["ledger.Nope"]},
        {"types": ["ledger.transfercompleted"]},
        {"types": []},
        {"since": "2024-01-01T00:00:00"},  # no offset
        {"since": "2024-01-01"},
        {"until": "yesterday"},
        {"until": 20240101},
        {"since": "0001-01-01T00:00:00+01:00"},  # before the first representable instant
        {"since": "2024-01-02T00:00:00Z", "until": "2024-01-01T00:00:00Z"},
    ],
)
async def test_a_malformed_filter_is_bad_user_input(api: Api, filter: dict[str, Any]) -> None:
    token = api.token_with(Policy.of("audit", Permission.READ))

    result = await api.execute(AUDIT_PAGE, {"first": 5, "filter": filter}, token=token)

    assert result.status == 200
    assert result.codes == ["BAD_USER_INPUT"], result.body
    assert result.data is None


@pytest.mark.parametrize("arguments", [{"first": 0}, {"last": 101}, {"first": 1, "last": 1}])
async def test_page_sizes_are_bounded_like_every_connection(
    api: Api, arguments: dict[str, Any]
) -> None:
    token = api.token_with(Policy.of("audit", Permission.READ))
    result = await api.execute(AUDIT_PAGE, arguments, token=token)
    assert result.codes == ["BAD_USER_INPUT"], result.body


async def test_node_finds_an_entry_within_the_callers_audit_scope(api: Api) -> None:
    history = await make_history(api)
    page = await api.ok(AUDIT_PAGE, {"first": 2}, token=history.admin)
    newest, second = (edge["node"] for edge in page["auditLog"]["edges"])
    one_entry = api.token_with(
        Policy.of("audit", Permission.READ, decode_as(newest["id"], "AuditEntry"))
    )
    query = """query($a: ID!, $b: ID!) {
      a: node(id: $a) { id ... on AuditEntry { eventType subjectId } }
      b: node(id: $b) { id }
      both: nodes(ids: [$a, $b]) { id }
    }"""
    ids = {"a": newest["id"], "b": second["id"]}

    admin = await api.ok(query, ids, token=history.admin)
    ann = await api.ok(query, ids, token=history.ann_token)
    scoped = await api.ok(query, ids, token=one_entry)
    listed = await api.ok(AUDIT_PAGE, {"first": 5}, token=one_entry)

    assert admin["a"] == {
        "id": newest["id"],
        "eventType": newest["eventType"],
        "subjectId": newest["subjectId"],
    }
    assert admin["both"] == [{"id": newest["id"]}, {"id": second["id"]}]
    assert ann == {"a": None, "b": None, "both": [None, None]}
    assert scoped["a"]["id"] == newest["id"]
    assert scoped["b"] is None
    assert scoped["both"] == [{"id": newest["id"]}, None]
    assert [e["node"]["id"] for e in listed["auditLog"]["edges"]] == [newest["id"]]
    assert listed["auditLog"]["totalCount"] == 1


async def test_the_actor_shows_within_the_callers_user_scope(api: Api) -> None:
    ann = await api.register("ann@example.org", "Ann")
    at = api.clock.now()
    async with SqlUnitOfWork(api.database) as uow:
        uow.audit.add(
            AuditEntry(
                message_id="m-1",
                event_type="identity.RefreshTokenReuseDetected",
                occurred_at=at,
                recorded_at=at + STEP,
                subject_type="session",  # no Node type: shown as the raw id
                subject_id="s-1",
                summary="a rotated refresh token came back",
                actor_id=ann,
                related_ids=("s-1",),
                trace_parent="00-" + "0" * 32 + "-00f067aa0ba902b7-01",  # all-zero: invalid
                request_id="req-1",
            )
        )
        uow.audit.add(
            AuditEntry(
                message_id="m-2",
                event_type="identity.UserDisabled",
                occurred_at=at,
                recorded_at=at + STEP,
                subject_type="user",
                subject_id=ann,
                summary=f"disabled user {ann}",
            )
        )
        await uow.commit()
    query = """query($f: AuditFilter) {
      auditLog(filter: $f) { edges { node { id actorId actor { email } subjectType subjectId
        relatedIds traceId requestId } } }
    }"""
    by_ann = {"actorId": gid("User", ann)}
    audit_only = api.token_with(Policy.of("audit", Permission.READ))

    admin = await api.ok(query, {"f": by_ann}, token=api.token_for(superuser()))
    no_users = await api.ok(query, {"f": by_ann}, token=audit_only)
    everyone = await api.ok(query, {"f": None}, token=audit_only)

    assert [edge["node"] for edge in admin["auditLog"]["edges"]] == [
        {
            "id": gid("AuditEntry", "m-1"),
            "actorId": gid("User", ann),
            "actor": {"email": "ann@example.org"},
            "subjectType": "session",
            "subjectId": "s-1",
            "relatedIds": ["s-1"],
            "traceId": None,
            "requestId": "req-1",
        }
    ]
    assert no_users["auditLog"]["edges"][0]["node"]["actor"] is None
    assert no_users["auditLog"]["edges"][0]["node"]["actorId"] == gid("User", ann)
    # Same instant: the message id decides, newest (greatest) first.
    assert [edge["node"]["id"] for edge in everyone["auditLog"]["edges"]] == [
        gid("AuditEntry", "m-2"),
        gid("AuditEntry", "m-1"),
    ]
    assert everyone["auditLog"]["edges"][0]["node"]["subjectId"] == gid("User", ann)
    assert everyone["auditLog"]["edges"][0]["node"]["actor"] is None


async def test_an_entry_names_the_request_whose_mutation_caused_it(api: Api) -> None:
    admin_id = await api.register("admin@example.org", "Admin")  # by the bus: in no request
    admin = api.token_for(superuser(admin_id))
    api.clock.advance(STEP)

    response = await api.client.post(
        "/graphql",
        json={"query": """mutation { createRole(input: {code: "teller", name: "Tellers",
                 policies: [{resource: ACCOUNTS, actions: [READ]}]}) { roleId } }"""},
        headers={"Authorization": f"Bearer {admin}", "X-Request-ID": "req-teller.1"},
    )
    assert response.status_code == 200, response.text
    assert "errors" not in response.json(), response.text
    assert response.headers["X-Request-ID"] == "req-teller.1"
    # As the embedded server does: relayed to the workers, who set it from the message.
    assert await api.deliver_events() == 2

    page = await api.ok(
        "{ auditLog { edges { node { eventType actorId requestId } } } }", token=admin
    )

    assert [edge["node"] for edge in page["auditLog"]["edges"]] == [
        {
            "eventType": "identity.RoleCreated",
            "actorId": gid("User", admin_id),
            "requestId": "req-teller.1",
        },
        {"eventType": "identity.UserRegistered", "actorId": None, "requestId": None},
    ]
