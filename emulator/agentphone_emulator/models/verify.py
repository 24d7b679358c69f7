"""Phone verification (OTP): ``/v1/verify/send`` and ``/v1/verify/check`` (snake_case)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..phone import E164
from .base import SnakeModel, Timestamp

CheckResult = Literal["ok", "incorrect", "exhausted", "expired", "already_verified"]


class VerifySend(SnakeModel):
    phone_number: E164


class VerifySent(SnakeModel):
    verification_id: str
    status: Literal["pending"]
    phone_number: str
    expires_at: Timestamp


class VerifyCheck(SnakeModel):
    verification_id: str = Field(min_length=1)
    code: str = Field(min_length=1, max_length=32)


class VerifyChecked(SnakeModel):
    result: CheckResult
    attempts_remaining: int
