"""``/v1/verify``: send a one-time code to a phone number and check it.
Tests read the code with ``store.verify.latest_code(account, phone_number)``."""

from __future__ import annotations

from ..models.verify import VerifyCheck, VerifyChecked, VerifySend, VerifySent
from ..store import verify as store
from .framework import Ctx, Router

router = Router("verify")


@router.post("/v1/verify/send", response=VerifySent, body=VerifySend, rate_limit=(60, 60))
async def send_verification(ctx: Ctx, *, body: VerifySend) -> VerifySent:
    """Send a 6-digit code by SMS (valid 10 minutes)"""
    record = store.send_code(ctx.state, ctx.account, body.phone_number)
    return VerifySent(
        verification_id=record.id,
        status="pending",
        phone_number=record.phone_number,
        expires_at=record.expires_at,
    )


@router.post("/v1/verify/check", response=VerifyChecked, body=VerifyCheck, rate_limit=(120, 60))
async def check_verification(ctx: Ctx, *, body: VerifyCheck) -> VerifyChecked:
    """Check a code (5 attempts)"""
    result, remaining = store.check_code(ctx.state, ctx.account, body.verification_id, body.code)
    return VerifyChecked(result=result, attempts_remaining=remaining)
