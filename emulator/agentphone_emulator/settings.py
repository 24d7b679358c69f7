"""Account settings: the platform's limits and prices, faithful by default, all configurable.

Defaults are what a new real account has (FAQ): $5.00 of credit, numbers at $3.00/month, ten
numbers self-serve, outbound SMS refused until 10DLC registration. A test that wants a roomier
account says so (``AccountSettings(credit_cents=10_000)``) instead of the emulator lying by default.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MAX_CALL_MINUTES = 60
"""The platform's longest call: the plan's ``maxCallDurationMinutes``, and Retell's default
``max_call_duration_ms`` (one hour), which the platform runs calls on."""


class AccountSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    credit_cents: int = Field(500, ge=0, description="Starting balance in cents ($5.00).")
    number_price_cents: int = Field(300, ge=0, description="Monthly price of a number, charged on purchase.")
    number_limit: int = Field(10, ge=0, description="How many active numbers the account may hold.")
    lookup_price_millicents: int = Field(900, ge=0, description="Number lookup price per number ($0.009).")
    recording_addon: bool = Field(False, description="Call recording add-on enabled ($5.00/month).")
    require_10dlc: bool = Field(
        True, description="Refuse outbound SMS until a 10DLC registration is submitted."
    )
    has_payment_method: bool = Field(
        True,
        description="False reproduces the 402 the platform gives outbound calls on credit-only accounts.",
    )
    echo_outbound_messages: bool = Field(
        True,
        description=(
            "Fire agent.message (direction outbound) for messages the API sends, as the platform's "
            "chat adapter expects; an agent must not answer its own echo."
        ),
    )
    max_call_minutes: int = Field(
        MAX_CALL_MINUTES,
        ge=1,
        le=MAX_CALL_MINUTES,
        description=(
            "Longest call, in minutes: a call still going then ends completed, reason "
            "max_duration_reached (lower it to test that without an hour of simulated talk)."
        ),
    )
    rate_limits: bool = Field(
        False, description="Enforce the documented per-minute rate limits (429 + Retry-After)."
    )
    unavailable_area_codes: tuple[str, ...] = Field(
        (), description="Area codes with no inventory: buying there answers 409 with alternatives."
    )
