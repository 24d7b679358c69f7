"""``/v1/sub-accounts``: list, create, rename, delete. A request acts as a sub-account when it
carries ``X-Sub-Account-Id`` (see ``framework.authenticate``)."""

from __future__ import annotations

from ..models.base import ListQuery, paginate
from ..models.sub_accounts import SubAccountDeleted, SubAccountList, SubAccountOut, SubAccountWrite
from ..store import sub_accounts as store
from ..store.account import Account
from .framework import Ctx, Router

router = Router("sub-accounts")


def sub_account_out(sub: Account) -> SubAccountOut:
    assert sub.parent_id is not None
    return SubAccountOut(
        id=sub.id,
        name=sub.name,
        parent_account_id=sub.parent_id,
        created_at=sub.created_at,
        number_count=len(sub.active_numbers()),
        agent_count=len(sub.agents),
        campaign_status=sub.registration.campaign_status if sub.registration else "none",
    )


@router.get("/v1/sub-accounts", response=SubAccountList, query=ListQuery)
async def list_sub_accounts(ctx: Ctx, *, query: ListQuery) -> SubAccountList:
    """List sub-accounts"""
    subs = store.list_sub_accounts(ctx.state, ctx.account)
    page, has_more, total = paginate(subs, query.limit, query.offset)
    return SubAccountList(data=[sub_account_out(s) for s in page], has_more=has_more, total=total)


@router.post("/v1/sub-accounts", response=SubAccountOut, body=SubAccountWrite)
async def create_sub_account(ctx: Ctx, *, body: SubAccountWrite) -> SubAccountOut:
    """Create a sub-account"""
    return sub_account_out(store.create_sub_account(ctx.state, ctx.account, body.name))


@router.patch("/v1/sub-accounts/{sub_account_id}", response=SubAccountOut, body=SubAccountWrite)
async def update_sub_account(ctx: Ctx, *, sub_account_id: str, body: SubAccountWrite) -> SubAccountOut:
    """Rename a sub-account"""
    return sub_account_out(store.rename_sub_account(ctx.state, ctx.account, sub_account_id, body.name))


@router.delete("/v1/sub-accounts/{sub_account_id}", response=SubAccountDeleted)
async def delete_sub_account(ctx: Ctx, *, sub_account_id: str) -> SubAccountDeleted:
    """Delete a sub-account, releasing its numbers"""
    sub, released = store.delete_sub_account(ctx.state, ctx.account, sub_account_id)
    return SubAccountDeleted(success=True, id=sub.id, released_numbers=released)
