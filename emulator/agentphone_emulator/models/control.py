"""Wire models of the control plane (``/__emulator/...``): what a test in any language uses to
drive the emulator. camelCase, like most of the platform."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, model_validator

from ..phone import E164
from ..store.records import MessageRecord
from ..vocabulary import (
    CallStatus,
    DeliveryStatus,
    DisconnectionReason,
    EventChannel,
    EventType,
    MessageDirection,
    Party,
    ReplyMode,
    ReplyState,
    SignatureChoice,
)
from .base import CamelModel, ControlOut, StrictCamelModel, Timestamp
from .findings import FindingOut
from .messages import Channel
from .webhooks import WebhookUrl

MAX_RING_SECONDS = 600
"""The longest a simulated callee's phone rings (seconds)."""
MAX_CLOCK_MOVE_SECONDS = 366 * 86400
"""The most one advance or fast-forward of the clock may move it: a year."""


class InboundSmsBody(StrictCamelModel):
    from_: str = Field(
        validation_alias=AliasChoices("from", "from_", "fromNumber"),
        serialization_alias="from",
        description="The texter's number (E.164), or an email address for iMessage lines.",
    )
    to: str = Field(
        validation_alias=AliasChoices("to", "toNumber"), description="One of the account's numbers (E.164)."
    )
    body: str = ""
    media_urls: list[str] = Field(default_factory=list)
    reply_within_seconds: float = Field(
        0,
        ge=0,
        le=60,
        allow_inf_nan=False,
        description="If the webhook takes the text, wait up to this many real seconds for the agent's "
        "first text back (it may answer after its webhook returned); what it sent is in `replies`.",
    )


class InboundReactionBody(StrictCamelModel):
    message_id: str
    reaction: str = Field(description="love, like, dislike, laugh, emphasize, question, or one emoji")
    from_: str | None = Field(None, validation_alias=AliasChoices("from", "from_", "fromNumber"))


class RequestOut(ControlOut):
    """One attempt's request exactly as the emulator sent it to the webhook."""

    method: Literal["POST"]
    url: str = Field(description="A URL, or an in-process app as 'module:attribute' plus its path.")
    headers: dict[str, str] = Field(
        description="Every header the emulator set, as sent: Content-Type, User-Agent, X-Webhook-ID, "
        "X-Webhook-Event, X-Webhook-Timestamp and X-Webhook-Signature (the HMAC of the webhook's own "
        "secret: this is a loopback test tool). An HTTP client adds its own (Host, Content-Length ...)."
    )
    body: str | None = Field(
        description="The exact body, as text (UTF-8 JSON, byte for byte what was signed); null only "
        "if the bytes are not UTF-8, then see bodyBase64."
    )
    body_base64: str | None = Field(
        None, description="The exact body base64-encoded, only when it is not UTF-8 (else null)."
    )


class AttemptOut(ControlOut):
    at: Timestamp
    request: RequestOut | None = Field(
        description="The request as sent; null only for an attempt restored from a state file written "
        "before requests were recorded."
    )
    http_status: int | None = Field(description="The status the server answered; null if it never did.")
    error_message: str | None
    response_body: str | None = Field(
        description="The start of the server's answer (1,000 characters at most), as text."
    )
    duration_ms: float = Field(description="Real milliseconds the server took (on a virtual clock too).")


class DeliveryOut(ControlOut):
    """A delivery with everything the emulator knows: every attempt with its exact request, the payload."""

    id: str = Field(description="dlv_...; also every attempt's X-Webhook-ID.")
    webhook_id: str
    url: str | None
    event_type: EventType
    channel: EventChannel | None
    agent_id: str | None
    message_id: str | None
    call_id: str | None
    status: DeliveryStatus
    attempt_count: int
    next_retry_at: Timestamp | None
    created_at: Timestamp
    test: bool
    replay_of: str | None = Field(
        None, description="The delivery an edited replay (POST .../replay) sent again; null for every other."
    )
    signature: SignatureChoice = Field(
        "signed",
        description="signed with the webhook's secret (every event the platform sends); an edited "
        "replay may be unsigned or forged on purpose (then a 400, 401 or 403 is the right answer).",
    )
    attempts: list[AttemptOut]
    payload: dict[str, Any] = Field(
        description="The envelope, parsed (its exact bytes are each attempt's request.body); its shape is "
        "the platform's webhook contract."
    )


class MessageRef(CamelModel):
    id: str
    conversation_id: str
    number_id: str
    from_: str = Field(serialization_alias="from")
    to: str
    body: str
    channel: Channel
    direction: MessageDirection
    received_at: Timestamp


def message_ref(message: MessageRecord) -> MessageRef:
    """A stored text as the control plane shows it."""
    return MessageRef(
        id=message.id,
        conversation_id=message.conversation_id,
        number_id=message.number_id,
        from_=message.from_number,
        to=message.to_number,
        body=message.body,
        channel=message.channel,
        direction=message.direction,
        received_at=message.created_at,
    )


class InboundSmsOut(ControlOut):
    message: MessageRef
    delivery: DeliveryOut | None
    replies: list[MessageRef] = Field(
        default_factory=list,
        description="The account's texts back to the sender, sent after this one, oldest first.",
    )


class ReactionOut(ControlOut):
    id: str
    message_id: str
    reaction_type: str
    from_number: str
    delivery: DeliveryOut | None


class ClockRunOut(ControlOut):
    """One thing the clock ran while it moved: a webhook delivery's attempt (a retry falling due,
    or an event a call fired), or a call ended by time (a silent caller, an unjoined web call)."""

    at: Timestamp
    kind: Literal["webhook_attempt", "call_ended"]
    delivery_id: str | None = None
    event_type: EventType | None = None
    url: str | None = None
    attempt: int | None = Field(None, description="1 for the first attempt, 2 for the first retry ...")
    http_status: int | None = None
    error_message: str | None = None
    retry_at: Timestamp | None = Field(
        None, description="A failed attempt's next one: when it ran, or is scheduled; null if none."
    )
    call_id: str | None = None
    status: CallStatus | None = Field(None, description="The call's status, for call_ended.")
    disconnection_reason: DisconnectionReason | None = None


class ClockOut(ControlOut):
    now: Timestamp
    virtual: bool
    next_due: Timestamp | None = None
    advanced_seconds: float | None = None
    ran: list[ClockRunOut] | None = Field(
        None, description="After advance or fast-forward: what ran on the way, in order (empty: nothing)."
    )


class AdvanceBody(StrictCamelModel):
    seconds: float = Field(ge=0, le=MAX_CLOCK_MOVE_SECONDS, allow_inf_nan=False)


class FastForwardBody(StrictCamelModel):
    limit_seconds: float = Field(7 * 86400, gt=0, le=MAX_CLOCK_MOVE_SECONDS, allow_inf_nan=False)


class FindingsOut(ControlOut):
    findings: list[FindingOut]


class WebhookTargetBody(StrictCamelModel):
    target: str = Field(description="A URL, or an in-process app as 'package.module:attribute'.")
    agent_id: str | None = None
    secret: str | None = Field(None, min_length=1)
    context_limit: int | None = Field(None, ge=0, le=50)
    # Fractions of a second are allowed here (not through /v1): a timeout test need not wait 5 s.
    timeout: float | None = Field(None, gt=0, le=120, allow_inf_nan=False)


class WebhookTargetOut(ControlOut):
    id: str
    url: str
    secret: str
    agent_id: str | None
    context_limit: int
    timeout: int | float


class SnapshotOut(ControlOut):
    id: str


class SnapshotTakenOut(ControlOut):
    id: str
    evicted: str | None = Field(
        description="The oldest snapshot, dropped to keep at most the limit (GET /__emulator/snapshots); null if none."
    )


class SnapshotInfo(CamelModel):
    id: str
    created_at: Timestamp
    size_bytes: int = Field(description="The memory it holds: the state compressed.")


class SnapshotList(CamelModel):
    data: list[SnapshotInfo] = Field(description="Oldest first.")
    limit: int = Field(description="How many are kept; taking one more drops the oldest.")


class ResetOut(ControlOut):
    reset: Literal[True] = True


# -- simulated calls -------------------------------------------------------------------------------

Digits = Annotated[str, Field(pattern=r"^[0-9*#]+$", max_length=64, description="DTMF keys: 0-9, * and #.")]
Confidence = Annotated[
    float, Field(ge=0, le=1, allow_inf_nan=False, description="The speech recogniser's confidence (0-1).")
]
Seconds = Annotated[float, Field(ge=0, le=86400, allow_inf_nan=False)]
STEP_ACTIONS = ("say", "interrupt", "press", "silence", "listen", "hangup")


class ScriptStep(StrictCamelModel):
    """One thing the caller does. Exactly one action key: ``{"say": "Hi", "listen": true,
    "confidence": 0.9}``, ``{"interrupt": "Wait", "after": 1.0}``, ``{"press": "12#"}``,
    ``{"silence": 3}``, ``{"listen": true}`` (let the agent finish) or ``{"hangup": true}``."""

    # Strict: a misspelt key ("sya") would otherwise be dropped and the step read as another action.

    say: str | None = Field(None, min_length=1, description="Say this once the agent is quiet.")
    interrupt: str | None = Field(None, min_length=1, description="Talk over the agent's reply.")
    press: Digits | None = None
    silence: Seconds | None = Field(None, description="Say nothing for this many seconds.")
    listen: bool | None = Field(
        None,
        description="Alone: let the agent finish what it is saying. With say: true waits for the "
        "reply's end, false returns as soon as the turn is sent; unset, a say (or press, or "
        "interrupt) followed by an interrupt is not heard to its end, so the interrupt talks over "
        "its reply, and any other is.",
    )
    hangup: Literal[True] | None = None
    confidence: Confidence | None = Field(None, description="With say or interrupt.")
    after: Seconds | None = Field(None, description="With interrupt: seconds into the reply (default 1).")

    @model_validator(mode="after")
    def _one_action(self) -> ScriptStep:
        given = [name for name in STEP_ACTIONS if getattr(self, name) is not None]
        if self.say is not None and "listen" in given:
            given.remove("listen")  # say's own option, not a second action
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(f"a step takes exactly one of {', '.join(STEP_ACTIONS)} (found: {found})")
        action = given[0]
        if self.confidence is not None and action not in ("say", "interrupt"):
            raise ValueError("confidence goes with say or interrupt")
        if self.after is not None and action != "interrupt":
            raise ValueError("after goes with interrupt")
        if action == "listen" and self.listen is not True:
            raise ValueError('a listen step is {"listen": true}')
        return self

    @property
    def action(self) -> str:
        return next(name for name in STEP_ACTIONS if getattr(self, name) is not None)


class CallRingBody(StrictCamelModel):
    to: str = Field(description="One of the account's numbers (E.164).")
    from_: str | None = Field(
        None,
        validation_alias=AliasChoices("from", "from_", "fromNumber"),
        serialization_alias="from",
        description="The caller's number (default +14155550123).",
    )
    script: list[ScriptStep] | None = Field(
        None,
        description="What the caller does, in order; without it the answer comes as the greeting starts.",
    )
    limit: Seconds | None = Field(
        None,
        description="After the script, let the call play out (the caller silent) until it ends or this "
        "many seconds of call time pass; without it the answer comes as soon as the script is done.",
    )


class SayBody(StrictCamelModel):
    text: str = Field(min_length=1)
    listen: bool = Field(True, description="false: answer as soon as the turn is sent, not after the reply.")
    confidence: Confidence = 0.95
    barge_in: bool = Field(
        False, description="true: talk now, cutting the agent off where it is (else wait until it is quiet)."
    )
    said_over: Seconds | None = Field(
        None,
        description="The words were already said, over the last this many seconds (a live microphone): "
        "the turn is sent at once, and a barge-in cuts the agent where the caller started.",
    )


class BargeInBody(StrictCamelModel):
    started_ago: Seconds = Field(
        0, description="The caller started talking this many seconds ago (a voice detector needs a moment)."
    )


class InterruptBody(StrictCamelModel):
    text: str = Field(min_length=1)
    after: Seconds = Field(1.0, description="Seconds into the agent's current reply.")
    confidence: Confidence = 0.95


class PressBody(StrictCamelModel):
    digits: Digits


class SilenceBody(StrictCamelModel):
    seconds: Seconds


class PlayOutBody(StrictCamelModel):
    limit: Seconds = Field(3600, description="At most this many seconds of call time.")


class WebCallJoinBody(StrictCamelModel):
    access_token: str = Field(min_length=1, description="The accessToken of POST /v1/calls/web.")


class ChunkOut(ControlOut):
    text: str
    spoken: str = Field(description="What the caller heard of it: all of it, unless cut by a barge-in.")
    interim: bool
    latency_ms: float = Field(description="Real time from sending the turn to this chunk.")
    arrived_at: Timestamp
    starts_at: Timestamp
    ends_at: Timestamp


class ReplyOut(ControlOut):
    turn: int = Field(description="0 for the greeting, then one per caller utterance or key press.")
    utterance: str
    mode: ReplyMode = Field(
        description="Who answered: the user's webhook, the hosted responder, or the agent's own words "
        "(its greeting, or the voicemail message it left)."
    )
    state: ReplyState
    text: str
    first_chunk_ms: float | None
    last_chunk_ms: float | None
    digits: str
    hangup: bool
    transfer: bool
    interrupted_at: Timestamp | None
    http_status: int | None
    delivery_id: str | None
    chunks: list[ChunkOut]
    findings: list[FindingOut]


class TranscriptLineOut(ControlOut):
    role: Party
    content: str


class KeyPressOut(ControlOut):
    by: Party = Field(description="user: the person on the call; agent: a reply's digits.")
    digits: str
    at: Timestamp


class CallSimOut(ControlOut):
    """A call as the simulated caller experienced it: each agent reply with its timing, the
    transcript, keys pressed, and what the agent's server got wrong."""

    call_id: str
    status: CallStatus
    live: bool
    disconnection_reason: DisconnectionReason | None
    transferred_to: str | None
    replies: list[ReplyOut] = Field(
        description="Every agent reply, the greeting first (for an ended call, only while it is one of the "
        "last 100 to end)."
    )
    transcript: list[TranscriptLineOut]
    key_presses: list[KeyPressOut]
    findings: list[FindingOut]
    stopped_at: int | None = Field(
        None, description="The index of the first script step not run because the call had ended."
    )


CalleeOutcome = Literal["answered", "busy", "no-answer", "voicemail", "failed", "ivr", "console"]
"""How a simulated callee answers (engine/callees.py's ``Outcome``)."""


class IvrMenuBody(StrictCamelModel):
    prompt: str | None = None
    options: dict[str, str] | None = Field(None, description="Key pressed -> what the menu says then.")
    invalid: str | None = None
    repeats: int | None = Field(None, ge=0, le=20)


class CalleeBody(StrictCamelModel):
    """Who answers outbound calls to ``number`` (any account's), instead of its magic-number behaviour."""

    number: E164
    outcome: CalleeOutcome = "answered"
    lines: list[str] | None = Field(None, description="Said one at a time, each after the agent's reply.")
    hang_up: bool = Field(True, description="Hang up after the last line (else stay silent on the line).")
    ring_seconds: float = Field(3.0, ge=0, le=MAX_RING_SECONDS, allow_inf_nan=False)
    voicemail_greeting: str | None = None
    ivr: IvrMenuBody | None = None


class IvrMenuOut(ControlOut):
    prompt: str
    options: dict[str, str]
    invalid: str
    repeats: int


class CalleeOut(ControlOut):
    number: str
    outcome: CalleeOutcome
    lines: list[str]
    hang_up: bool
    ring_seconds: float
    voicemail_greeting: str
    ivr: IvrMenuOut | None


class HostedBody(StrictCamelModel):
    llm_url: WebhookUrl | None = Field(
        None, description="An OpenAI-compatible base URL; its key is read from $AGENTPHONE_EMULATOR_LLM_KEY."
    )
    llm_model: str | None = Field(None, min_length=1)
    replies: dict[str, list[str | dict[str, Any]]] | None = Field(
        None, description="Agent id -> its replies in order (text, or a reply object like a webhook's)."
    )


class HostedOut(ControlOut):
    llm_url: str | None = Field(description="Without any user or password it contained.")
    llm_model: str
    llm_key_env: str = Field(description="The variable the key is read from (the key is never shown).")
    llm_key_set: bool
    replies: dict[str, list[str | dict[str, Any]]]
