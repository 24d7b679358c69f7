"""Verification codes over the control plane (``GET /__emulator/verifications/latest``): the code
``POST /v1/verify/send`` texted, which a Python test reads with ``store.verify.latest_code``. There
is no handset to read it from. The control plane (api/control.py) registers this route.
"""

from __future__ import annotations

from ..errors import ApiError, validation_error
from ..models.control_probes import VerificationCodeOut, VerificationQuery
from ..phone import InvalidPhoneNumber
from ..store import verify as verify_store
from .framework import Ctx, Router

PREFIX = "/__emulator"
router = Router("emulator verifications")


@router.get(f"{PREFIX}/verifications/latest", response=VerificationCodeOut, query=VerificationQuery)
async def latest_verification(ctx: Ctx, *, query: VerificationQuery) -> VerificationCodeOut:
    """The code most recently texted to a number by the key's account (store.verify.latest_code)"""
    try:
        record = verify_store.latest(ctx.account, query.phone_number)
    except InvalidPhoneNumber as exc:
        raise validation_error(["query", "phoneNumber"], str(exc), query.phone_number) from None
    except KeyError:
        raise ApiError(404, "No verification code was sent to that number", code="NOT_FOUND") from None
    return VerificationCodeOut(
        id=record.id,
        phone_number=record.phone_number,
        code=record.code,
        created_at=record.created_at,
        expires_at=record.expires_at,
        attempts_remaining=record.attempts_remaining,
        verified=record.verified,
    )
