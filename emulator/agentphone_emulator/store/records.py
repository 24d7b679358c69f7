"""What the emulator remembers, as plain dataclasses (snake_case; wire casing lives in ``models``).

Records hold ids, not object references, so a snapshot is a deep copy and relations stay
consistent by construction: the store modules are the only writers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(slots=True, kw_only=True)
class AgentRecord:
    id: str
    name: str
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    voice_mode: str = "webhook"
    model_tier: str = "balanced"
    system_prompt: str | None = None
    begin_message: str | None = None
    voice: str = "custom_voice_ea22ba5fdfaa18f39c274851c1"
    transfer_number: str | None = None
    voicemail_message: str | None = None
    stt_mode: str = "fast"
    ambient_sound: str = "none"
    denoising_mode: str = "noise-cancellation"
    max_silence_ms: int = 600_000
    enable_messaging: bool = True
    enable_backchannel: bool = True
    interruption_sensitivity: float = 0.8
    voice_speed: float = 1.0
    language: str = "en-US"
    custom_tools: list[dict[str, Any]] | None = None
    call_screening_identity: str | None = None
    call_screening_purpose: str | None = None
    # The last wire view built for this agent and what it was built from (``api.agents``):
    # listing 20 agents would otherwise re-validate 20 models per request. ``updated_at`` must
    # change on every mutation, which ``store.agents`` guarantees.
    view_cache: tuple[Any, Any] | None = field(default=None, repr=False, compare=False)


@dataclass(slots=True, kw_only=True)
class ContactCardRecord:
    first_name: str | None = None
    last_name: str | None = None
    display_name: str | None = None
    avatar_url: str | None = None


@dataclass(slots=True, kw_only=True)
class NumberRecord:
    id: str
    phone_number: str
    country: str
    created_at: datetime
    status: str = "active"  # active | released
    type: str = "sms"  # sms | imessage
    agent_id: str | None = None
    imessage_type: str | None = None
    external_id: str | None = None
    expires_at: datetime | None = None
    released_at: datetime | None = None
    contact_card: ContactCardRecord | None = None


@dataclass(slots=True, kw_only=True)
class CallTurn:
    """One utterance on a call: the caller (``user``) or the agent (``agent``)."""

    id: str
    role: str  # user | agent
    content: str
    created_at: datetime
    confidence: float | None = None
    # When an agent's words began to be heard (created_at is when they were all said, or cut);
    # None for the caller, whose turn counts from when it was sent, once the words were said.
    spoken_at: datetime | None = None

    @property
    def heard_at(self) -> datetime:
        """The moment a transcript shows: the caller's turn when sent, the agent's when it starts
        speaking (so the gap between them is the agent's latency)."""
        return self.spoken_at or self.created_at


@dataclass(slots=True, kw_only=True)
class KeyPress:
    """DTMF keys pressed on a call: by the agent (a reply's ``digits``) or by the caller."""

    by: str  # agent | user
    digits: str
    at: datetime


@dataclass(slots=True, kw_only=True)
class CallRecord:
    id: str
    agent_id: str | None
    phone_number_id: str | None
    phone_number: str | None  # our side of the call, E.164 ("web" for web calls)
    from_number: str
    to_number: str
    direction: str  # inbound | outbound | web
    type: str  # pstn | web
    status: str  # in-progress | ending | completed | failed | busy | no-answer | ringing
    started_at: datetime
    ended_at: datetime | None = None
    disconnection_reason: str | None = None
    turns: list[CallTurn] = field(default_factory=list)
    system_prompt: str | None = None
    initial_greeting: str | None = None
    voice: str | None = None
    model_tier: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] | None = None
    disable_recording: bool = False
    recording: bytes | None = None
    web_token: str | None = None
    web_token_expires_at: datetime | None = None
    web_token_redeemed_at: datetime | None = None  # when the browser joined with the token
    call_screening_identity: str | None = None
    call_screening_purpose: str | None = None
    key_presses: list[KeyPress] = field(default_factory=list)
    transferred_to: str | None = None  # the agent's transferNumber, when a reply transferred the call


@dataclass(slots=True, kw_only=True)
class ReactionRecord:
    id: str
    message_id: str
    reaction_type: str
    from_number: str
    direction: str
    created_at: datetime


@dataclass(slots=True, kw_only=True)
class MessageRecord:
    id: str
    conversation_id: str
    number_id: str
    from_number: str
    to_number: str
    body: str
    direction: str  # inbound | outbound
    channel: str  # sms | mms | imessage | whatsapp | rcs
    status: str  # received | sent | delivered | failed
    created_at: datetime
    media_urls: list[str] = field(default_factory=list)
    failure_reason: str | None = None
    reply_to_message_id: str | None = None
    send_style: str | None = None
    reactions: list[ReactionRecord] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class ConversationRecord:
    id: str
    number_id: str
    phone_number: str  # ours
    participant: str  # theirs (a phone number, or a grp_ id for iMessage groups)
    channel: str
    created_at: datetime
    agent_id: str | None = None
    last_message_at: datetime | None = None
    message_ids: list[str] = field(default_factory=list)
    metadata: dict[str, Any] | None = None
    is_group: bool = False
    group_name: str | None = None
    participants: list[str] = field(default_factory=list)
    background_id: str | None = None
    background_url: str | None = None
    background_version: int = 0


@dataclass(slots=True, kw_only=True)
class ContactRecord:
    id: str
    phone_number: str
    name: str
    created_at: datetime
    updated_at: datetime
    email: str | None = None
    notes: str | None = None


@dataclass(slots=True, kw_only=True)
class WebhookRecord:
    id: str
    url: str
    secret: str
    created_at: datetime
    context_limit: int = 10
    timeout: float = 30  # the voice-turn timeout, seconds (5-120 through the API)
    status: str = "active"
    agent_id: str | None = None  # None: the account (project) webhook


@dataclass(slots=True, kw_only=True)
class DeliveryAttempt:
    at: datetime
    http_status: int | None
    error_message: str | None
    response_body: str | None
    duration_ms: float


@dataclass(slots=True, kw_only=True)
class DeliveryRecord:
    id: str  # also the X-Webhook-ID, the same on every retry
    webhook_id: str
    event_type: str
    channel: str | None
    created_at: datetime
    payload: bytes
    agent_id: str | None = None
    message_id: str | None = None
    call_id: str | None = None
    status: str = "pending"  # pending | success | failed
    http_status: int | None = None
    error_message: str | None = None
    response_body: str | None = None
    attempt_count: int = 0
    last_attempt_at: datetime | None = None
    next_retry_at: datetime | None = None
    test: bool = False
    attempts: list[DeliveryAttempt] = field(default_factory=list)
    scope: str = "account"  # account | agent: the kind of webhook it went to (agent logs show only "agent")
    url: str | None = None  # where it was sent; the webhook may be changed or deleted afterwards
    retries_allowed: bool = True  # test sends are one attempt, reported to the caller


@dataclass(slots=True, kw_only=True)
class SipTrunkRecord:
    id: str
    name: str
    created_at: datetime
    termination_sip_uri: str
    username: str
    password: str
    transfers: str = "all"
    transfer_caller_id: str = "transferee"
    origination_uris: list[dict[str, Any]] = field(default_factory=list)
    allowed_ips: list[dict[str, Any]] = field(default_factory=list)
    credential_list_name: str = ""
    updated_at: datetime | None = None


@dataclass(slots=True, kw_only=True)
class RegistrationRecord:
    submitted_at: datetime
    form: dict[str, Any]
    campaign_status: str = "pending"  # none | pending | approved | rejected
    sub_account_id: str | None = None
    registration_type: str = "sole_proprietor"  # sole_proprietor | standard_brand | high_volume
    fee_cents: int = 2500
    brand_id: str = ""
    campaign_id: str = ""
    updated_at: datetime | None = None
    decided_at: datetime | None = None  # when approved or rejected
    rejection_reason: str | None = None


@dataclass(slots=True, kw_only=True)
class VerificationRecord:
    id: str
    phone_number: str
    code: str
    created_at: datetime
    expires_at: datetime
    attempts_remaining: int = 5
    verified: bool = False


@dataclass(slots=True, kw_only=True)
class WhatsAppConnectionRecord:
    id: str
    created_at: datetime
    waba_id: str | None
    business_id: str | None
    agent_id: str | None
    phone_numbers: list[dict[str, Any]] = field(default_factory=list)
    templates: list[dict[str, Any]] = field(default_factory=list)
    status: str = "connected"
    # Every number on the WhatsApp Business Account; ``phone_numbers`` holds the connected ones.
    available_numbers: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class LedgerEntry:
    """One charge against the account's balance (negative cents are credits)."""

    at: datetime
    cents: float
    reason: str
    reference_id: str | None = None


@dataclass(slots=True, kw_only=True)
class FeedbackRecord:
    id: str
    created_at: datetime
    category: str
    note: str
    request_id: str | None = None
    url: str | None = None
    tags: list[str] = field(default_factory=list)
