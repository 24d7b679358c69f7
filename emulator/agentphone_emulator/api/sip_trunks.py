"""``/v1/sip-trunks``: list, create, get, update (an empty PATCH rotates credentials), delete."""

from __future__ import annotations

from ..models.sip_trunks import (
    AllowedIpOut,
    CredentialOut,
    OriginationUriOut,
    SipTrunkCreate,
    SipTrunkDeleted,
    SipTrunkList,
    SipTrunkOut,
    SipTrunkUpdate,
)
from ..store import sip_trunks as store
from ..store.records import SipTrunkRecord
from .framework import Ctx, Router

router = Router("sip-trunks")


def trunk_out(trunk: SipTrunkRecord, *, reveal_password: bool = False) -> SipTrunkOut:
    return SipTrunkOut(
        id=trunk.id,
        name=trunk.name,
        provider="",
        encrypted=False,
        transport="udp",
        media_encryption="disabled",
        transfers=trunk.transfers,
        transfer_caller_id=trunk.transfer_caller_id,
        termination_sip_uri=trunk.termination_sip_uri,
        origination_uris=[OriginationUriOut(**u) for u in trunk.origination_uris],
        allowed_ips=[AllowedIpOut(**ip) for ip in trunk.allowed_ips],
        proxy_ips=list(store.PROXY_IPS),
        credentials=[
            CredentialOut(
                username=trunk.username,
                password=trunk.password if reveal_password else None,
                password_last4=trunk.password[-4:],
                credential_list_name=trunk.credential_list_name,
            )
        ],
        created_at=trunk.created_at,
        updated_at=trunk.updated_at or trunk.created_at,
    )


@router.get("/v1/sip-trunks", response=SipTrunkList)
async def list_sip_trunks(ctx: Ctx) -> SipTrunkList:
    """List SIP trunks"""
    trunks = sorted(ctx.account.sip_trunks.values(), key=lambda t: t.created_at, reverse=True)
    return SipTrunkList(data=[trunk_out(t) for t in trunks])


@router.post("/v1/sip-trunks", response=SipTrunkOut, body=SipTrunkCreate, body_required=False)
async def create_sip_trunk(ctx: Ctx, *, body: SipTrunkCreate) -> SipTrunkOut:
    """Create a SIP trunk (its password is shown only now)"""
    return trunk_out(store.create_trunk(ctx.state, ctx.account, body.name), reveal_password=True)


@router.get("/v1/sip-trunks/{trunk_id}", response=SipTrunkOut)
async def get_sip_trunk(ctx: Ctx, *, trunk_id: str) -> SipTrunkOut:
    """Get a SIP trunk"""
    return trunk_out(store.get_trunk(ctx.account, trunk_id))


@router.patch("/v1/sip-trunks/{trunk_id}", response=SipTrunkOut, body=SipTrunkUpdate, body_required=False)
async def update_sip_trunk(ctx: Ctx, *, trunk_id: str, body: SipTrunkUpdate) -> SipTrunkOut:
    """Update a SIP trunk; with no fields, rotate its credentials"""
    fields = body.model_dump(exclude_unset=True, by_alias=False, exclude={"origination"})
    if body.origination is not None:
        # Nested items keep their defaults (priority, weight, name), unlike the top level.
        origination = body.origination
        fields["origination"] = {
            "uris": None
            if origination.uris is None
            else [u.model_dump(by_alias=False) for u in origination.uris],
            "allowed_ips": None
            if origination.allowed_ips is None
            else [ip.model_dump(by_alias=False) for ip in origination.allowed_ips],
        }
    trunk, rotated = store.update_trunk(ctx.state, ctx.account, trunk_id, fields)
    return trunk_out(trunk, reveal_password=rotated)


@router.delete("/v1/sip-trunks/{trunk_id}", response=SipTrunkDeleted)
async def delete_sip_trunk(ctx: Ctx, *, trunk_id: str) -> SipTrunkDeleted:
    """Delete a SIP trunk"""
    trunk = store.delete_trunk(ctx.account, trunk_id)
    return SipTrunkDeleted(success=True, id=trunk.id)
