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
    """The turn's id."""
    role: str
    """``user`` (the caller) or ``agent``."""
    content: str
    """The words (for the agent, what the caller heard of them; for keys, the digits)."""
    created_at: datetime
    """When it was said, on the emulator's clock."""
    confidence: float | None = None
    """The speech recogniser's confidence in a caller turn (0 to 1); None for the agent's."""
    spoken_at: datetime | None = None
    """When an agent's words began to be heard (``created_at`` is when they were all said, or cut);
    None for the caller, whose turn counts from when it was sent, once the words were said."""

    @property
    def heard_at(self) -> datetime:
        """The moment a transcript shows: the caller's turn when sent, the agent's when it starts
        speaking (so the gap between them is the agent's latency)."""
        return self.spoken_at or self.created_at


@dataclass(slots=True, kw_only=True)
class KeyPress:
    """DTMF keys pressed on a call: by the agent (a reply's ``digits``) or by the caller."""

    by: str
    """Who pressed them: ``user`` (the caller) or ``agent``."""
    digits: str
    """The keys: ``0``-``9``, ``*`` and ``#``."""
    at: datetime
    """When, on the emulator's clock."""


@dataclass(slots=True, kw_only=True)
class CallRecord:
    """A call as the platform stores it (``GET /v1/calls/{id}`` is its wire view)."""

    id: str
    """The call's id (``call_...``)."""
    agent_id: str | None
    """The agent on the call; None if the number had none."""
    phone_number_id: str | None
    """Our number's id; None for a web call."""
    phone_number: str | None
    """Our side of the call, E.164 (``"web"`` for web calls)."""
    from_number: str
    """Who called, E.164."""
    to_number: str
    """Who was called, E.164."""
    direction: str
    """``inbound``, ``outbound`` or ``web``."""
    type: str
    """``pstn`` or ``web``."""
    status: str
    """``ringing``, ``in-progress``, ``ending``, then ``completed``, ``failed``, ``busy`` or
    ``no-answer``."""
    started_at: datetime
    """When it connected, on the emulator's clock."""
    ended_at: datetime | None = None
    """When it ended; None while it is live."""
    disconnection_reason: str | None = None
    """Why it ended (``user_hangup``, ``agent_hangup``, ``call_transfer``, ``inactivity`` ...)."""
    turns: list[CallTurn] = field(default_factory=list)
    """Every utterance, both sides, oldest first."""
    system_prompt: str | None = None
    """The call's own system prompt (``POST /v1/calls`` with ``systemPrompt``: hosted answers)."""
    initial_greeting: str | None = None
    """The call's own first words, overriding the agent's ``beginMessage``."""
    voice: str | None = None
    """The call's voice, overriding the agent's."""
    model_tier: str | None = None
    """The call's model tier, overriding the agent's."""
    variables: dict[str, str] = field(default_factory=dict)
    """The call's dynamic variables (``{{name}}`` in prompts)."""
    metadata: dict[str, Any] | None = None
    """The caller's own metadata, returned as given."""
    disable_recording: bool = False
    """Whether recording was turned off for this call."""
    recording: bytes | None = None
    """The call's WAV, with the recording add-on, once it has ended; else None."""
    web_token: str | None = None
    """A web call's access token (``POST /v1/calls/web``)."""
    web_token_expires_at: datetime | None = None
    """When the web call's token expires."""
    web_token_redeemed_at: datetime | None = None
    """When the browser joined with the token; None until it did."""
    call_screening_identity: str | None = None
    """Who the agent says it is to a call-screening service."""
    call_screening_purpose: str | None = None
    """Why it says it calls, to a call-screening service."""
    key_presses: list[KeyPress] = field(default_factory=list)
    """Every DTMF key press, by either side, oldest first."""
    transferred_to: str | None = None
    """The agent's ``transferNumber``, when a reply transferred the call; else None."""


@dataclass(slots=True, kw_only=True)
class ReactionRecord:
    """A reaction (tapback) to an iMessage."""

    id: str
    """The reaction's id."""
    message_id: str
    """The message reacted to."""
    reaction_type: str
    """``love``, ``like``, ``dislike``, ``laugh``, ``emphasize``, ``question``, or an emoji."""
    from_number: str
    """Who reacted, E.164."""
    direction: str
    """``inbound`` (a participant reacted) or ``outbound`` (the agent did)."""
    created_at: datetime
    """When, on the emulator's clock."""


@dataclass(slots=True, kw_only=True)
class MessageRecord:
    """A text on one of the account's numbers, either way."""

    id: str
    """The message's id (``msg_...``)."""
    conversation_id: str
    """The conversation (our number and the other party) it belongs to."""
    number_id: str
    """Our number's id."""
    from_number: str
    """The sender, E.164."""
    to_number: str
    """The recipient, E.164."""
    body: str
    """The text."""
    direction: str
    """``inbound`` (to our number) or ``outbound`` (sent through the API)."""
    channel: str
    """``sms``, ``mms``, ``imessage``, ``whatsapp`` or ``rcs``."""
    status: str
    """``received``, ``sent``, ``delivered`` or ``failed``."""
    created_at: datetime
    """When, on the emulator's clock."""
    media_urls: list[str] = field(default_factory=list)
    """The attachments' URLs (an MMS)."""
    failure_reason: str | None = None
    """Why sending failed; None unless ``status`` is ``failed``."""
    reply_to_message_id: str | None = None
    """The message this one replies to (iMessage threads); else None."""
    send_style: str | None = None
    """An iMessage effect (``slam``, ``loud`` ...); else None."""
    reactions: list[ReactionRecord] = field(default_factory=list)
    """Reactions to it, oldest first."""


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
    """Where an account's (or one agent's) events are sent, and how they are signed."""

    id: str
    """The webhook's id."""
    url: str
    """Where events go: a URL, or ``module:attr`` (plus a path) for an app in this process."""
    secret: str
    """The HMAC-SHA256 signing secret (``whsec_...``)."""
    created_at: datetime
    """When it was set, on the emulator's clock."""
    context_limit: int = 10
    """How many earlier messages an event's ``recentHistory`` carries."""
    timeout: float = 30
    """Seconds to wait for an answer (5-120 through the API; any positive value from Python)."""
    status: str = "active"
    """``active``."""
    agent_id: str | None = None
    """The agent whose events it receives; None for the account's (project) webhook."""


@dataclass(slots=True, kw_only=True)
class DeliveryAttempt:
    """One attempt of a [`DeliveryRecord`][agentphone_emulator.store.records.DeliveryRecord]."""

    at: datetime
    """When it was sent, on the emulator's clock."""
    http_status: int | None
    """The status the server answered with; None if it never answered (timeout, refused)."""
    error_message: str | None
    """Why it failed (``HTTP 500``, ``Timed out after 30s``, ``Connection failed: ...``); None
    if it succeeded."""
    response_body: str | None
    """The start of the server's answer (1,000 characters at most); None if there was none."""
    duration_ms: float
    """Real milliseconds the server took (on a virtual clock too)."""
    url: str | None = None
    """Where this attempt was sent (a retry goes to the webhook as configured then); None for an
    attempt restored from a state file that predates it."""
    headers: dict[str, str] | None = None
    """The request headers exactly as sent, signature included (the body is the delivery's
    ``payload``); None for an attempt restored from a state file that predates it."""


@dataclass(slots=True, kw_only=True)
class DeliveryRecord:
    """One event sent to a webhook, with every attempt: what ``Emulator.deliveries()`` lists.

    Each attempt is signed afresh (``X-Webhook-Signature`` over ``payload`` and the attempt's
    ``X-Webhook-Timestamp``) and carries ``id`` as its ``X-Webhook-ID``. A 5xx, a timeout or a
    refused connection is retried on the emulator's clock (after 5 min, 30 min, 2 h, 6 h and
    12 h); a 4xx or 3xx ends it.
    """

    id: str
    """The delivery's id (``dlv_...``), also its ``X-Webhook-ID``: the same on every retry."""
    webhook_id: str
    """The webhook it went to."""
    event_type: str
    """The event: ``agent.message``, ``agent.reaction``, ``agent.call_ended`` ..."""
    channel: str | None
    """The envelope's ``channel``: ``sms``, ``mms``, ``imessage``, ``voice`` ...; None if none."""
    created_at: datetime
    """When the event happened, on the emulator's clock."""
    payload: bytes
    """The exact bytes of the body every attempt sends (the JSON envelope)."""
    agent_id: str | None = None
    """The agent the event is for."""
    message_id: str | None = None
    """The message the event is about (a text, or a reaction's message); else None."""
    call_id: str | None = None
    """The call the event is about (a voice turn, a call's end); else None."""
    status: str = "pending"
    """``pending`` (in flight, or a retry is scheduled), ``success`` or ``failed`` (for good)."""
    http_status: int | None = None
    """The last attempt's status; None if it never answered."""
    error_message: str | None = None
    """Why the last attempt failed; None if it succeeded."""
    response_body: str | None = None
    """The start of the last answer (1,000 characters at most)."""
    attempt_count: int = 0
    """How many attempts were made (at most 6)."""
    last_attempt_at: datetime | None = None
    """When the last attempt was made."""
    next_retry_at: datetime | None = None
    """When the next attempt is scheduled; None if none is."""
    test: bool = False
    """Whether it is a test event (``POST /v1/webhooks/test``): one attempt, no findings."""
    attempts: list[DeliveryAttempt] = field(default_factory=list)
    """Every attempt, oldest first."""
    scope: str = "account"
    """The kind of webhook it went to: ``account`` or ``agent`` (agent logs show only ``agent``)."""
    url: str | None = None
    """Where it was sent (the webhook may be changed or deleted afterwards)."""
    retries_allowed: bool = True
    """False for events sent once only: test sends, voice turns (now or never), edited replays."""
    replay_of: str | None = None
    """For an edited replay (``POST /__emulator/deliveries/{id}/replay``): the delivery it replays."""
    signature: str = "signed"
    """``signed`` with the webhook's secret; an edited replay may be ``unsigned`` or ``forged``."""
    extra_headers: dict[str, str] | None = None
    """Headers an edited replay sets over the platform's own (its attempts send them too)."""


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
