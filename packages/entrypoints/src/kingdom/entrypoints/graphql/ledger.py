"""The ledger over GraphQL: accounts, their transfers, and the commands that move money."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from ariadne import EnumType, MutationType, ObjectType, QueryType

from kingdom.domain.access import ReadScope
from kingdom.domain.ledger import (
    AccountStatus,
    CloseAccount,
    Deposit,
    OpenAccount,
    TransferFunds,
    Withdraw,
)
from kingdom.entrypoints.graphql import global_ids
from kingdom.entrypoints.graphql.context import Info, Resolver, request_context
from kingdom.entrypoints.graphql.directives import read_scope
from kingdom.entrypoints.graphql.pagination import connection, page_request
from kingdom.entrypoints.graphql.row_resolvers import per_row
from kingdom.entrypoints.graphql.selection import USER_ROLE_FIELDS, as_selected, selects
from kingdom.services.ports import AccountView, Page, TransferView, UserView
from kingdom.services.resources import USERS

query = QueryType()
mutation = MutationType()
account = ObjectType("Account")
transfer = ObjectType("Transfer")
account_status = EnumType("AccountStatus", AccountStatus)
account_payloads = [
    ObjectType(name)
    for name in ("OpenAccountPayload", "DepositPayload", "WithdrawPayload", "CloseAccountPayload")
]
transfer_payload = ObjectType("TransferPayload")


# Objects


@account.field("id")
def resolve_account_id(obj: AccountView, *_: Any) -> str:
    return global_ids.encode("Account", obj.id)


@account.field("owner")
@per_row
def resolve_account_owner(
    info: Info, scope: ReadScope
) -> Callable[[AccountView], UserView | None | Awaitable[UserView | None]]:
    # The loader once per request; each row then resolves synchronously when
    # a page fetched its owners ahead (see resolve_accounts): no future per row.
    loader = request_context(info).loaders.users(scope, with_roles=selects(info, USER_ROLE_FIELDS))
    return lambda obj: loader.loaded(obj.owner_id)


@account.field("transfers")
async def resolve_account_transfers(
    obj: AccountView, info: Info, scope: ReadScope, **arguments: Any
) -> dict[str, Any]:
    request = as_selected(info, page_request(**arguments))
    transfers = request_context(info).services.transfers
    return connection(await transfers.list(scope, request, account_id=obj.id))


@transfer.field("id")
def resolve_transfer_id(obj: TransferView, *_: Any) -> str:
    return global_ids.encode("Transfer", obj.id)


@transfer.field("source")
async def resolve_transfer_source(
    obj: TransferView, info: Info, scope: ReadScope
) -> AccountView | None:
    return await request_context(info).loaders.accounts(scope).load(obj.source_id)


@transfer.field("target")
async def resolve_transfer_target(
    obj: TransferView, info: Info, scope: ReadScope
) -> AccountView | None:
    return await request_context(info).loaders.accounts(scope).load(obj.target_id)


# Queries


@query.field("accounts")
async def resolve_accounts(
    _: None, info: Info, scope: ReadScope, **arguments: Any
) -> dict[str, Any]:
    request = as_selected(info, page_request(**arguments))
    page = await request_context(info).services.accounts.list(scope, request)
    await _prefetch_owners(info, page)
    return connection(page)


async def _prefetch_owners(info: Info, page: Page[AccountView]) -> None:
    """The page's owners in one batch, when the query shows them without their roles.

    Each ``owner`` then resolves at once from the loader (same scope, same
    loader as it would use), instead of awaiting a batch per page.
    """
    if not page.edges or not selects(info, {"owner"}, "edges", "node"):
        return
    if selects(info, USER_ROLE_FIELDS, "edges", "node", "owner"):
        return  # owners with roles: the resolver's own loader batches them
    users = read_scope(info, USERS)
    if users.denied:
        return
    loader = request_context(info).loaders.users(users, with_roles=False)
    await loader.prefetch(edge.node.owner_id for edge in page.edges)


@query.field("account")
async def resolve_account(_: None, info: Info, scope: ReadScope, id: str) -> AccountView | None:
    account_id = global_ids.decode_as(id, "Account")
    return await request_context(info).loaders.accounts(scope).load(account_id)


# Mutations


@mutation.field("openAccount")
async def resolve_open_account(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    context = request_context(info)
    actor = context.require_actor()
    given = input.get("owner_id")
    owner_id = global_ids.decode_as(given, "User") if given is not None else actor.user_id
    assert owner_id is not None  # require_actor: not anonymous
    account_id = await context.send(
        OpenAccount(
            meta=context.meta(),
            actor=actor,
            owner_id=owner_id,
            currency=input["currency"],
            idempotency_key=input.get("idempotency_key"),
        )
    )
    return {"account_id": global_ids.encode("Account", account_id)}


def _cash_movement(command: type[Deposit] | type[Withdraw]) -> Resolver:
    """deposit and withdraw: the same input, the same payload, another command."""

    async def resolve(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
        context = request_context(info)
        await context.send(
            command(
                meta=context.meta(),
                actor=context.require_actor(),
                account_id=global_ids.decode_as(input["account_id"], "Account"),
                amount=input["amount"],
                expected_version=input.get("expected_version"),
                idempotency_key=input.get("idempotency_key"),
            )
        )
        return {"account_id": input["account_id"]}

    return resolve


mutation.set_field("deposit", _cash_movement(Deposit))
mutation.set_field("withdraw", _cash_movement(Withdraw))


@mutation.field("transfer")
async def resolve_transfer(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    context = request_context(info)
    transfer_id = await context.send(
        TransferFunds(
            meta=context.meta(),
            actor=context.require_actor(),
            source_id=global_ids.decode_as(input["source_id"], "Account"),
            target_id=global_ids.decode_as(input["target_id"], "Account"),
            amount=input["amount"],
            expected_version=input.get("expected_version"),
            idempotency_key=input.get("idempotency_key"),
        )
    )
    return {"transfer_id": global_ids.encode("Transfer", transfer_id)}


@mutation.field("closeAccount")
async def resolve_close_account(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    context = request_context(info)
    await context.send(
        CloseAccount(
            meta=context.meta(),
            actor=context.require_actor(),
            account_id=global_ids.decode_as(input["account_id"], "Account"),
            expected_version=input.get("expected_version"),
            idempotency_key=input.get("idempotency_key"),
        )
    )
    return {"account_id": input["account_id"]}


for payload in account_payloads:

    @payload.field("account")
    async def resolve_payload_account(
        obj: dict[str, Any], info: Info, scope: ReadScope
    ) -> AccountView | None:
        account_id = global_ids.decode_as(obj["account_id"], "Account")
        return await request_context(info).loaders.accounts(scope).load(account_id)


@transfer_payload.field("transfer")
async def resolve_payload_transfer(
    obj: dict[str, Any], info: Info, scope: ReadScope
) -> TransferView | None:
    transfer_id = global_ids.decode_as(obj["transfer_id"], "Transfer")
    return await request_context(info).loaders.transfers(scope).load(transfer_id)


BINDABLES: Final = (
    query,
    mutation,
    account,
    transfer,
    account_status,
    *account_payloads,
    transfer_payload,
)
