"""Wire models of the control plane (``/__emulator/...``): what a test in any language uses to
drive the emulator. camelCase, like most of the platform."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, ConfigDict, Field, model_validator

from ..phone import E164
from .base import CamelModel, Timestamp
from .webhooks import WebhookUrl

MAX_RING_SECONDS = 600
"""The longest a simulated callee's phone rings (seconds)."""
MAX_CLOCK_MOVE_SECONDS = 366 * 86400
"""The most one advance or fast-forward of the clock may move it: a year."""


class InboundSmsBody(CamelModel):
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


class InboundReactionBody(CamelModel):
    message_id: str
    reaction: str = Field(description="love, like, dislike, laugh, emphasize, question, or one emoji")
    from_: str | None = Field(None, validation_alias=AliasChoices("from", "from_", "fromNumber"))


class AttemptOut(CamelModel):
    at: Timestamp
    http_status: int | None
    error_message: str | None
    response_body: str | None
    duration_ms: float


class DeliveryOut(CamelModel):
    """A delivery with everything the emulator knows: every attempt, the exact payload."""

    id: str
    webhook_id: str
    url: str | None
    event_type: str
    channel: str | None
    agent_id: str | None
    message_id: str | None
    call_id: str | None
    status: str
    attempt_count: int
    next_retry_at: Timestamp | None
    created_at: Timestamp
    test: bool
    attempts: list[AttemptOut]
    payload: dict[str, Any]


class MessageRef(CamelModel):
    id: str
    conversation_id: str
    number_id: str
    from_: str = Field(serialization_alias="from")
    to: str
    body: str
    channel: str
    direction: str
    received_at: Timestamp


class InboundSmsOut(CamelModel):
    message: MessageRef
    delivery: DeliveryOut | None
    replies: list[MessageRef] = Field(
        default_factory=list,
        description="The account's texts back to the sender, sent after this one, oldest first.",
    )


class ReactionOut(CamelModel):
    id: str
    message_id: str
    reaction_type: str
    from_number: str
    delivery: DeliveryOut | None


class ClockRunOut(CamelModel):
    """One thing the clock ran while it moved: a webhook delivery's attempt (a retry falling due,
    or an event a call fired), or a call ended by time (a silent caller, an unjoined web call)."""

    at: Timestamp
    kind: Literal["webhook_attempt", "call_ended"]
    delivery_id: str | None = None
    event_type: str | None = None
    url: str | None = None
    attempt: int | None = Field(None, description="1 for the first attempt, 2 for the first retry ...")
    http_status: int | None = None
    error_message: str | None = None
    retry_at: Timestamp | None = Field(
        None, description="A failed attempt's next one: when it ran, or is scheduled; null if none."
    )
    call_id: str | None = None
    status: str | None = Field(None, description="The call's status, for call_ended.")
    disconnection_reason: str | None = None


class ClockOut(CamelModel):
    now: Timestamp
    virtual: bool
    next_due: Timestamp | None = None
    advanced_seconds: float | None = None
    ran: list[ClockRunOut] | None = Field(
        None, description="After advance or fast-forward: what ran on the way, in order (empty: nothing)."
    )


class AdvanceBody(CamelModel):
    seconds: float = Field(ge=0, le=MAX_CLOCK_MOVE_SECONDS, allow_inf_nan=False)


class FastForwardBody(CamelModel):
    limit_seconds: float = Field(7 * 86400, gt=0, le=MAX_CLOCK_MOVE_SECONDS, allow_inf_nan=False)


class FindingsOut(CamelModel):
    findings: list[dict[str, Any]]


class WebhookTargetBody(CamelModel):
    target: str = Field(description="A URL, or an in-process app as 'package.module:attribute'.")
    agent_id: str | None = None
    secret: str | None = Field(None, min_length=1)
    context_limit: int | None = Field(None, ge=0, le=50)
    # Fractions of a second are allowed here (not through /v1): a timeout test need not wait 5 s.
    timeout: float | None = Field(None, gt=0, le=120, allow_inf_nan=False)


class WebhookTargetOut(CamelModel):
    id: str
    url: str
    secret: str
    agent_id: str | None
    context_limit: int
    timeout: int | float


class SnapshotOut(CamelModel):
    id: str


class SnapshotTakenOut(CamelModel):
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


class ResetOut(CamelModel):
    reset: bool = True


# -- simulated calls -------------------------------------------------------------------------------

Digits = Annotated[str, Field(pattern=r"^[0-9*#]+$", max_length=64, description="DTMF keys: 0-9, * and #.")]
Confidence = Annotated[
    float, Field(ge=0, le=1, allow_inf_nan=False, description="The speech recogniser's confidence (0-1).")
]
Seconds = Annotated[float, Field(ge=0, le=86400, allow_inf_nan=False)]
STEP_ACTIONS = ("say", "interrupt", "press", "silence", "listen", "hangup")


class ScriptStep(CamelModel):
    """One thing the caller does. Exactly one action key: ``{"say": "Hi", "listen": true,
    "confidence": 0.9}``, ``{"interrupt": "Wait", "after": 1.0}``, ``{"press": "12#"}``,
    ``{"silence": 3}``, ``{"listen": true}`` (let the agent finish) or ``{"hangup": true}``."""

    # A misspelt key ("sya") would otherwise be dropped and the step read as another action.
    model_config = ConfigDict(extra="forbid")

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


class CallRingBody(CamelModel):
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


class SayBody(CamelModel):
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


class BargeInBody(CamelModel):
    started_ago: Seconds = Field(
        0, description="The caller started talking this many seconds ago (a voice detector needs a moment)."
    )


class InterruptBody(CamelModel):
    text: str = Field(min_length=1)
    after: Seconds = Field(1.0, description="Seconds into the agent's current reply.")
    confidence: Confidence = 0.95


class PressBody(CamelModel):
    digits: Digits


class SilenceBody(CamelModel):
    seconds: Seconds


class PlayOutBody(CamelModel):
    limit: Seconds = Field(3600, description="At most this many seconds of call time.")


class WebCallJoinBody(CamelModel):
    access_token: str = Field(min_length=1, description="The accessToken of POST /v1/calls/web.")


class ChunkOut(CamelModel):
    text: str
    spoken: str = Field(description="What the caller heard of it: all of it, unless cut by a barge-in.")
    interim: bool
    latency_ms: float = Field(description="Real time from sending the turn to this chunk.")
    arrived_at: Timestamp
    starts_at: Timestamp
    ends_at: Timestamp


class ReplyOut(CamelModel):
    turn: int = Field(description="0 for the greeting, then one per caller utterance or key press.")
    utterance: str
    mode: str
    state: str = Field(description="waiting, speaking, done, interrupted or silent.")
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
    findings: list[dict[str, Any]]


class TranscriptLineOut(CamelModel):
    role: str
    content: str


class KeyPressOut(CamelModel):
    by: str
    digits: str
    at: Timestamp


class CallSimOut(CamelModel):
    """A call as the simulated caller experienced it: each agent reply with its timing, the
    transcript, keys pressed, and what the agent's server got wrong."""

    call_id: str
    status: str
    live: bool
    disconnection_reason: str | None
    transferred_to: str | None
    replies: list[ReplyOut] = Field(
        description="Every agent reply, the greeting first (for an ended call, only while it is one of the "
        "last 100 to end)."
    )
    transcript: list[TranscriptLineOut]
    key_presses: list[KeyPressOut]
    findings: list[dict[str, Any]]
    stopped_at: int | None = Field(
        None, description="The index of the first script step not run because the call had ended."
    )


class IvrMenuBody(CamelModel):
    prompt: str | None = None
    options: dict[str, str] | None = Field(None, description="Key pressed -> what the menu says then.")
    invalid: str | None = None
    repeats: int | None = Field(None, ge=0, le=20)


class CalleeBody(CamelModel):
    """Who answers outbound calls to ``number`` (any account's), instead of its magic-number behaviour."""

    number: E164
    outcome: Literal["answered", "busy", "no-answer", "voicemail", "failed", "ivr", "console"] = "answered"
    lines: list[str] | None = Field(None, description="Said one at a time, each after the agent's reply.")
    hang_up: bool = Field(True, description="Hang up after the last line (else stay silent on the line).")
    ring_seconds: float = Field(3.0, ge=0, le=MAX_RING_SECONDS, allow_inf_nan=False)
    voicemail_greeting: str | None = None
    ivr: IvrMenuBody | None = None


class IvrMenuOut(CamelModel):
    prompt: str
    options: dict[str, str]
    invalid: str
    repeats: int


class CalleeOut(CamelModel):
    number: str
    outcome: str
    lines: list[str]
    hang_up: bool
    ring_seconds: float
    voicemail_greeting: str
    ivr: IvrMenuOut | None


class HostedBody(CamelModel):
    llm_url: WebhookUrl | None = Field(
        None, description="An OpenAI-compatible base URL; its key is read from $AGENTPHONE_EMULATOR_LLM_KEY."
    )
    llm_model: str | None = Field(None, min_length=1)
    replies: dict[str, list[str | dict[str, Any]]] | None = Field(
        None, description="Agent id -> its replies in order (text, or a reply object like a webhook's)."
    )


class HostedOut(CamelModel):
    llm_url: str | None = Field(description="Without any user or password it contained.")
    llm_model: str
    llm_key_env: str = Field(description="The variable the key is read from (the key is never shown).")
    llm_key_set: bool
    replies: dict[str, list[str | dict[str, Any]]]
