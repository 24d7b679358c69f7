"""``/v1/location``: last known position of the account's numbers (camelCase)."""

from __future__ import annotations

from ..models.misc import LocationOut, LocationRefreshOut
from ..store import misc as store
from .framework import Ctx, Router

router = Router("location")


@router.post("/v1/location/refresh", response=LocationRefreshOut, body_required=False)
async def refresh_locations(ctx: Ctx) -> LocationRefreshOut:
    """Refresh the locations of the account's numbers"""
    store.refresh_locations(ctx.state, ctx.account)
    return LocationRefreshOut(success=True, poll_after_seconds=store.POLL_AFTER_SECONDS)


@router.get("/v1/location/{phone_number}", response=LocationOut)
async def get_location(ctx: Ctx, *, phone_number: str) -> LocationOut:
    """Get the last known location of one of the account's numbers"""
    number = store.find_active_number(ctx.account, phone_number)
    located = store.number_location(ctx.account, number)
    if located is None:
        return LocationOut(
            phone_number=number.phone_number,
            status="unavailable",
            last_updated=0,
            latitude=None,
            longitude=None,
        )
    latitude, longitude, refreshed_at = located
    return LocationOut(
        phone_number=number.phone_number,
        status="available",
        last_updated=int(refreshed_at.timestamp()),
        latitude=latitude,
        longitude=longitude,
    )
