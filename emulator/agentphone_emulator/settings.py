"""Account settings: the platform's limits and prices, faithful by default, all configurable.

Defaults are what a new real account has (FAQ): $5.00 of credit, numbers at $3.00/month, ten
numbers self-serve, outbound SMS refused until 10DLC registration. A test that wants a roomier
account says so (``AccountSettings(credit_cents=10_000)``) instead of the emulator lying by default.
Every field may change while the emulator runs (``Emulator.configure``, ``PATCH /__emulator/account``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MAX_CALL_MINUTES = 60
"""The platform's longest call: the plan's ``maxCallDurationMinutes``, and Retell's default
``max_call_duration_ms`` (one hour), which the platform runs calls on."""


class AccountSettings(BaseModel):
    """An account's limits and prices; the defaults are a new real account's.

    Set with `Emulator(settings=...)`, `reset(settings)` or `configure(settings)`, a scenario's
    `account:`, the pytest ini's `agentphone_account` or `@pytest.mark.agentphone_account(...)`.
    Immutable; an unknown field is an error.
    """

    # The attribute docstrings below are the fields' descriptions (use_attribute_docstrings), so
    # the reference pages and `agentphone-emulator schema` say the same thing from one text.
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    credit_cents: int = Field(500, ge=0)
    """Starting balance in cents ($5.00)."""
    number_price_cents: int = Field(300, ge=0)
    """Monthly price of a number, charged on purchase."""
    number_limit: int = Field(10, ge=0)
    """How many active numbers the account may hold."""
    lookup_price_millicents: int = Field(900, ge=0)
    """Number lookup price per number ($0.009)."""
    recording_addon: bool = False
    """Call recording add-on enabled ($5.00/month)."""
    require_10dlc: bool = True
    """Refuse outbound SMS until a 10DLC registration is submitted."""
    require_10dlc_approval: bool = False
    """With require_10dlc: refuse outbound SMS until the registration is approved (the control plane plays the carriers: POST /__emulator/registrations/{id}/approve or /reject). Off: a submitted registration lets texts out at once."""
    has_payment_method: bool = True
    """False reproduces the 402 the platform gives outbound calls on credit-only accounts."""
    echo_outbound_messages: bool = True
    """Fire agent.message (direction outbound) for messages the API sends, as the platform's chat adapter expects; an agent must not answer its own echo."""
    voice_history_includes_utterance: bool = True
    """A voice turn's recentHistory ends with the caller utterance being answered (the platform's streaming examples build their prompt from recentHistory alone); False stops it before that utterance, as a text's history stops before the text."""
    max_call_minutes: int = Field(MAX_CALL_MINUTES, ge=1, le=MAX_CALL_MINUTES)
    """Longest call, in minutes: a call still going then ends completed, reason max_duration_reached (lower it to test that without an hour of simulated talk)."""
    voice_reply_deadline_seconds: float = Field(120.0, gt=0)
    """Real seconds a voice turn's whole reply may take, from the request to its final chunk; past it the turn ends with what was heard (voice_reply_too_long). The webhook's timeout bounds each wait for the next chunk, so without this an agent streaming interim chunks for ever held the turn for ever. 120 s is the longest timeout the platform accepts."""
    rate_limits: bool = False
    """Enforce the documented per-minute rate limits (429 + Retry-After)."""
    unavailable_area_codes: tuple[str, ...] = ()
    """Area codes with no inventory: buying there answers 409 with alternatives."""
