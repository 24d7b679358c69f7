"""Voice calls: starting them (outbound, inbound, web), their transcript, ending them.

A call's transcript is a flat list of :class:`CallTurn` (``user`` = the caller, ``agent`` = our
side). Two functions change a live call, and everything that makes calls talk (the voice
engine, the REST ``end`` route) goes through them:

- :func:`append_turn` adds an utterance;
- :func:`finish_call` ends the call.

Both wake whoever follows the call (the SSE transcript stream) through a tiny per-call
publish/subscribe: :func:`subscribe` hands out an :class:`asyncio.Queue` of :class:`CallEvent`.
They must run on the emulator's event loop (``emu.call_soon`` from another thread), like every
other state change.

Web calls: ``POST /v1/calls/web`` creates the call at once (status ``in-progress``, from/to
``"web"``) and mints a JWT-shaped access token, HMAC-signed with a per-emulator secret and valid
30 s on the emulator's clock. :func:`redeem_web_token` is what a browser joining the call would
do; nothing ends an unjoined web call by itself.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import secrets
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from ..errors import bad_request, conflict, not_found, payment_required
from ..vocabulary import CallStatus as CallStatus  # the words live in vocabulary.py
from ..vocabulary import DisconnectionReason as DisconnectionReason
from .account import Account, EmulatorState
from .agents import get_agent
from .live import publish
from .records import AgentRecord, CallRecord, CallTurn, NumberRecord

log = logging.getLogger("agentphone_emulator.calls")

LIVE_STATUSES = frozenset({"ringing", "in-progress"})
# The status each reason ends a call with. Every ending goes through finish_call, which holds the
# engine to this table, so a scenario can be checked against it before it runs.
STATUS_OF_REASON: dict[str, str] = {
    "user_hangup": "completed",
    "agent_hangup": "completed",
    "api_hangup": "completed",
    "call_transfer": "completed",
    "inactivity": "completed",
    "max_duration_reached": "completed",
    "voicemail_reached": "completed",
    "dial_busy": "busy",
    "dial_no_answer": "no-answer",
    "dial_failed": "failed",
    "no_agent": "failed",
    "registered_call_timeout": "failed",
}
assert set(STATUS_OF_REASON) == set(get_args(DisconnectionReason))
WEB_TOKEN_TTL = timedelta(seconds=30)
SNIPPET_CHARS = 120


# -- reading ------------------------------------------------------------------------------------


def get_call(account: Account, call_id: str) -> CallRecord:
    call = account.calls.get(call_id)
    if call is None:
        raise not_found("Call")
    return call


def find_call(state: EmulatorState, call_id: str) -> CallRecord | None:
    """A call in any account: the recording URL is public, the call id is its only secret."""
    for account in state.accounts.values():
        call = account.calls.get(call_id)
        if call is not None:
            return call
    return None


def is_live(call: CallRecord) -> bool:
    return call.status in LIVE_STATUSES


def list_calls(
    account: Account,
    *,
    agent_id: str | None = None,
    number_id: str | None = None,
    status: str | None = None,
    direction: str | None = None,
    type: str | None = None,
    search: str | None = None,
) -> list[CallRecord]:
    """Newest first. ``search`` is a substring of the caller's or the callee's number."""
    calls = sorted(reversed(account.calls.values()), key=lambda c: c.started_at, reverse=True)
    if agent_id is not None:
        calls = [c for c in calls if c.agent_id == agent_id]
    if number_id is not None:
        calls = [c for c in calls if c.phone_number_id == number_id]
    if status:
        wanted = status.strip().replace("_", "-")  # the docs spell it "in_progress" once
        calls = [c for c in calls if c.status == wanted]
    if direction:
        calls = [c for c in calls if c.direction == direction.strip()]
    if type:
        calls = [c for c in calls if c.type == type.strip()]
    term = (search or "").strip()
    if term:
        calls = [c for c in calls if term in c.from_number or term in c.to_number]
    return calls


def duration_seconds(call: CallRecord) -> int | None:
    if call.ended_at is None:
        return None
    return max(0, round((call.ended_at - call.started_at).total_seconds()))


def last_snippet(call: CallRecord) -> str | None:
    if not call.turns:
        return None
    text = call.turns[-1].content.strip()
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class TranscriptPair:
    """One row of ``GET /v1/calls/{id}``'s ``transcripts``: what the caller said and the reply."""

    id: str
    transcript: str
    response: str | None
    confidence: float | None
    created_at: datetime


def transcript_pairs(call: CallRecord) -> list[TranscriptPair]:
    """Pair each caller utterance with the agent speech that follows it.

    Agent speech before any caller turn (the greeting) is a row with an empty ``transcript``;
    several agent utterances in a row are one reply.
    """
    rows: list[dict[str, Any]] = []
    for turn in call.turns:
        if turn.role == "user" or not rows:
            rows.append(
                {
                    "id": turn.id,
                    "transcript": "",
                    "response": None,
                    "confidence": None,
                    "created_at": turn.created_at,
                }
            )
        row = rows[-1]
        if turn.role == "user":
            row["transcript"], row["confidence"] = turn.content, turn.confidence
        else:
            row["response"] = turn.content if row["response"] is None else f"{row['response']} {turn.content}"
    return [TranscriptPair(**row) for row in rows]


def should_record(state: EmulatorState, account: Account, call: CallRecord) -> bool:
    """Recordings are made while the add-on is active, unless the call opted out."""
    return state.billing_account(account).settings.recording_addon and not call.disable_recording


# -- starting calls -----------------------------------------------------------------------------


def webhook_configured(account: Account, agent_id: str) -> bool:
    return account.webhook is not None or agent_id in account.agent_webhooks


def caller_number(account: Account, agent: AgentRecord, from_number_id: str | None) -> NumberRecord:
    """The number an outbound call shows: ``fromNumberId`` if given, else the agent's first."""
    if from_number_id is None:
        numbers = account.agent_numbers(agent.id)
        if not numbers:
            raise bad_request(
                f"Agent has no phone number attached. Attach one with POST /v1/agents/{agent.id}/numbers "
                "before making calls.",
                code="AGENT_HAS_NO_NUMBER",
            )
        return numbers[0]
    number = account.numbers.get(from_number_id)
    if number is None:
        raise not_found("Phone number", code="PHONE_NUMBER_NOT_FOUND")
    if number.status != "active":
        raise bad_request(f"Phone number {number.phone_number} has been released")
    if number.agent_id != agent.id:
        raise bad_request(
            f"Phone number {number.phone_number} ({number.id}) is not attached to agent {agent.id}: "
            "fromNumberId must be one of the agent's numbers.",
            code="NUMBER_NOT_ATTACHED",
        )
    return number


def _check_conversation_source(account: Account, agent: AgentRecord, system_prompt: str | None) -> None:
    """Someone must drive the conversation: a prompt for the built-in LLM, or a webhook."""
    if not system_prompt and agent.voice_mode == "webhook" and not webhook_configured(account, agent.id):
        raise bad_request(
            f"Agent {agent.id} uses voiceMode 'webhook' but no webhook is configured, so nobody would answer "
            f"the call. Set one with POST /v1/webhooks or POST /v1/agents/{agent.id}/webhook, pass systemPrompt "
            "to use the built-in LLM, or switch the agent to voiceMode 'hosted'.",
            code="WEBHOOK_NOT_CONFIGURED",
        )


def start_outbound_call(
    state: EmulatorState,
    account: Account,
    *,
    agent_id: str,
    to_number: str,
    from_number_id: str | None = None,
    initial_greeting: str | None = None,
    voice: str | None = None,
    system_prompt: str | None = None,
    variables: dict[str, str] | None = None,
    model_tier: str | None = None,
    disable_recording: bool | None = None,
    call_screening_identity: str | None = None,
    call_screening_purpose: str | None = None,
) -> CallRecord:
    agent = get_agent(account, agent_id)
    number = caller_number(account, agent, from_number_id)
    _check_conversation_source(account, agent, system_prompt)
    if variables and not system_prompt and agent.voice_mode != "hosted":
        raise bad_request(
            "variables need a prompt to fill in: pass systemPrompt or use a hosted-mode agent.",
            code="VARIABLES_REQUIRE_PROMPT",
        )
    if not state.billing_account(account).settings.has_payment_method:
        raise payment_required(
            "Outbound calls require a payment method on file. Add a card on the Billing page of the "
            "dashboard to place outbound calls.",
            code="PAYMENT_METHOD_REQUIRED",
        )
    call = CallRecord(
        id=state.ids.new("call"),
        agent_id=agent.id,
        phone_number_id=number.id,
        phone_number=number.phone_number,
        from_number=number.phone_number,
        to_number=to_number,
        direction="outbound",
        type="pstn",
        status="in-progress",
        started_at=state.now(),
        system_prompt=system_prompt,
        initial_greeting=initial_greeting,
        voice=voice or agent.voice,
        model_tier=model_tier,
        variables=dict(variables or {}),
        disable_recording=bool(disable_recording),
        call_screening_identity=call_screening_identity or agent.call_screening_identity,
        call_screening_purpose=call_screening_purpose or agent.call_screening_purpose,
    )
    account.calls[call.id] = call
    publish(state, account, "call", call)
    return call


def start_inbound_call(
    state: EmulatorState, account: Account, number: NumberRecord, from_number: str
) -> CallRecord:
    """A caller dialled one of ``account``'s numbers; the number's agent (if any) answers."""
    agent = account.agents.get(number.agent_id) if number.agent_id else None
    call = CallRecord(
        id=state.ids.new("call"),
        agent_id=agent.id if agent else None,
        phone_number_id=number.id,
        phone_number=number.phone_number,
        from_number=from_number,
        to_number=number.phone_number,
        direction="inbound",
        type="pstn",
        status="in-progress",
        started_at=state.now(),
        voice=agent.voice if agent else None,
    )
    account.calls[call.id] = call
    publish(state, account, "call", call)
    return call


def start_web_call(
    state: EmulatorState,
    account: Account,
    *,
    agent_id: str,
    metadata: dict[str, Any] | None = None,
    variables: dict[str, str] | None = None,
) -> CallRecord:
    agent = get_agent(account, agent_id)
    _check_conversation_source(account, agent, None)
    if variables and agent.voice_mode != "hosted":
        raise bad_request(
            "variables are only supported for hosted-mode agents.", code="VARIABLES_REQUIRE_PROMPT"
        )
    now = state.now()
    call = CallRecord(
        id=state.ids.new("call"),
        agent_id=agent.id,
        phone_number_id=None,
        phone_number="web",
        from_number="web",
        to_number="web",
        direction="web",
        type="web",
        status="in-progress",
        started_at=now,
        voice=agent.voice,
        variables=dict(variables or {}),
        metadata=metadata,
    )
    call.web_token_expires_at = now + WEB_TOKEN_TTL
    call.web_token = _sign_token(
        state,
        {
            "iss": "agentphone-emulator",
            "sub": call.id,
            "acct": account.id,
            "agent_id": agent.id,
            "iat": int(now.timestamp()),
            "exp": int(call.web_token_expires_at.timestamp()),
        },
    )
    account.calls[call.id] = call
    publish(state, account, "call", call)
    return call


class InvalidWebToken(ValueError):
    pass


def redeem_web_token(state: EmulatorState, token: str) -> tuple[Account, CallRecord]:
    """Join a web call with its access token (once, within 30 s, while the call is live)."""
    claims = _verify_token(state, token)
    account = state.accounts.get(str(claims.get("acct")))
    call = account.calls.get(str(claims.get("sub"))) if account else None
    if account is None or call is None or call.web_token != token:
        raise InvalidWebToken("unknown access token")
    if call.web_token_expires_at is None or state.now() > call.web_token_expires_at:
        raise InvalidWebToken("access token expired")
    if call.web_token_redeemed_at is not None:
        raise InvalidWebToken("access token already used")
    if not is_live(call):
        raise InvalidWebToken("call has ended")
    call.web_token_redeemed_at = state.now()
    return account, call


_secrets: weakref.WeakKeyDictionary[EmulatorState, bytes] = weakref.WeakKeyDictionary()


def _secret(state: EmulatorState) -> bytes:
    if state not in _secrets:
        _secrets[state] = secrets.token_bytes(32)
    return _secrets[state]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign_token(state: EmulatorState, claims: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(_secret(state), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def _verify_token(state: EmulatorState, token: str) -> dict[str, Any]:
    try:
        header, payload, signature = token.split(".")
        given = _unb64(signature)
        claims = json.loads(_unb64(payload))
    except ValueError:  # wrong part count, bad base64, bad JSON (UnicodeDecodeError is one too)
        raise InvalidWebToken("malformed access token") from None
    expected = hmac.new(_secret(state), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, given):
        raise InvalidWebToken("bad access token signature")
    if not isinstance(claims, dict):
        raise InvalidWebToken("malformed access token")
    return claims


# -- live changes: the only two writers of a call's transcript and end ---------------------------


@dataclass(frozen=True, slots=True)
class CallEvent:
    """What a follower of a call hears: a new ``turn``, that the call ``ended``, or that the
    emulator is ``closing`` (stopping: nothing more will come)."""

    kind: Literal["turn", "ended", "closing"]
    turn: CallTurn | None = None
    status: str | None = None
    duration_seconds: int | None = None


# Per emulator state, per (account id, call id): the queues of the open transcript streams.
# Keyed by ids, not records, so a stream survives ``restore()`` swapping the records underneath.
_followers: weakref.WeakKeyDictionary[
    EmulatorState, dict[tuple[str, str], list[asyncio.Queue[CallEvent]]]
] = weakref.WeakKeyDictionary()


@contextmanager
def subscribe(state: EmulatorState, account: Account, call: CallRecord) -> Iterator[asyncio.Queue[CallEvent]]:
    """Follow a call: every later :func:`append_turn` / :func:`finish_call` lands in the queue."""
    queue: asyncio.Queue[CallEvent] = asyncio.Queue()
    key = (account.id, call.id)
    registry = _followers.setdefault(state, {})
    registry.setdefault(key, []).append(queue)
    try:
        yield queue
    finally:
        queues = registry.get(key, [])
        if queue in queues:
            queues.remove(queue)
        if not queues:
            registry.pop(key, None)


def close_followers(state: EmulatorState) -> None:
    """The emulator is stopping: every open follower hears ``closing`` (an open transcript stream
    would otherwise hold the stop until its client let go)."""
    for queues in _followers.get(state, {}).values():
        for queue in queues:
            queue.put_nowait(CallEvent("closing"))


def _publish(state: EmulatorState, account: Account, call: CallRecord, event: CallEvent) -> None:
    for queue in _followers.get(state, {}).get((account.id, call.id), []):
        queue.put_nowait(event)


CallEndedHook = Callable[[EmulatorState, Account, CallRecord], None]
_call_ended_hooks: weakref.WeakKeyDictionary[EmulatorState, list[CallEndedHook]] = weakref.WeakKeyDictionary()


def on_call_ended(state: EmulatorState, hook: CallEndedHook) -> CallEndedHook:
    """Register ``hook(state, account, call)`` to run whenever one of ``state``'s calls ends (the
    voice engine sends ``agent.call_ended`` this way). A failing hook is logged; the call still ends."""
    hooks = _call_ended_hooks.setdefault(state, [])
    if hook not in hooks:
        hooks.append(hook)
    return hook


def append_turn(
    state: EmulatorState,
    account: Account,
    call: CallRecord,
    role: str,
    content: str,
    confidence: float | None = None,
    spoken_at: datetime | None = None,
) -> CallTurn:
    """Add an utterance to a live call and tell its followers."""
    if role not in ("user", "agent"):
        raise ValueError(f"role must be 'user' or 'agent', not {role!r}")
    if not is_live(call):
        raise ValueError(f"call {call.id} is {call.status}: no more turns")
    turn = CallTurn(
        id=state.ids.new("tr"),
        role=role,
        content=content,
        created_at=state.now(),
        confidence=confidence,
        spoken_at=spoken_at,
    )
    call.turns.append(turn)
    _publish(state, account, call, CallEvent("turn", turn=turn))
    publish(state, account, "turn", (call, turn))
    return turn


def set_ringing(state: EmulatorState, account: Account, call: CallRecord, ringing: bool) -> None:
    """A live outbound call rings at a person in the console (``ringing``), or has stopped."""
    if is_live(call):
        call.status = "ringing" if ringing else "in-progress"
        publish(state, account, "call", call)


def max_call_length(account: Account) -> timedelta:
    """How long a call on ``account`` may last before it ends ``max_duration_reached``."""
    return timedelta(minutes=account.settings.max_call_minutes)


def finish_call(
    state: EmulatorState, account: Account, call: CallRecord, status: str, reason: str | None
) -> CallRecord:
    """End a call (``completed``, ``failed``, ``busy``, ``no-answer`` ...) and tell its followers.

    Ending an ended call changes nothing, so racing hang-ups (caller and API) are harmless.
    """
    if status in LIVE_STATUSES or status not in get_args(CallStatus):
        raise ValueError(f"{status!r} is not a final call status")
    if reason is not None and STATUS_OF_REASON.get(reason) != status:
        raise ValueError(f"{reason!r} is not a reason a call ends {status!r} with (see STATUS_OF_REASON)")
    if not is_live(call):
        return call
    call.status = status
    # No call outlives the limit (the voice engine ends it there); a clock that caught up past the
    # moment, before that timer ran, must not make it longer.
    call.ended_at = min(state.now(), call.started_at + max_call_length(account))
    call.disconnection_reason = reason
    _publish(state, account, call, CallEvent("ended", status=status, duration_seconds=duration_seconds(call)))
    publish(state, account, "call", call)
    for hook in list(_call_ended_hooks.get(state, ())):
        try:
            hook(state, account, call)
        except Exception:
            log.exception("call-ended hook %r failed for %s", hook, call.id)
    return call


def end_call(state: EmulatorState, account: Account, call_id: str) -> CallRecord:
    """``POST /v1/calls/{id}/end``: hang up a live call from the API side."""
    call = get_call(account, call_id)
    if not is_live(call):
        raise conflict("Call is not in progress", code="CALL_NOT_IN_PROGRESS")
    return finish_call(state, account, call, "completed", "api_hangup")
