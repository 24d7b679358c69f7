"""Asking for a reply: one voice turn's exchange with the user's webhook (or the hosted responder),
read chunk by chunk as it arrives, with the findings the exchange itself can show.

The webhook's ``timeout`` bounds the first body byte, then each gap between chunks (bytes that
complete no chunk do not count, so a server dripping whitespace cannot hold a turn open), and
``AccountSettings.voice_reply_deadline_seconds`` bounds the whole reply (so a server streaming
interim chunks for ever cannot either); after the final chunk the stream is read a moment longer
(:data:`GRACE_AFTER_FINAL_SECONDS`) so bytes sent after it are reported. A body past the reader's cap ends the exchange at once: nothing more is
read. A turn is never retried: it is logged as one delivery with one attempt.
Chunks go to :meth:`CallSession.arrive`, which places them on the speech timeline.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
import traceback

from ..agent_env import SLOW_FIRST_CHUNK_ENV
from ..safe_text import scrub
from ..store.findings import FindingCode
from ..store.live import publish
from ..store.records import CallTurn
from .agent_reply import AgentReply
from .call_protocols import TurnCall
from .delivery import MAX_RESPONSE_BYTES, log_attempt, route_webhook
from .events import voice_message_event
from .hosted import HostedError, HostedTurn, fill_variables
from .replies import ReplyReader, read_object
from .reply_fields import ReplyProblem
from .signing import refusal_hint, signed_headers
from .targets import AppFailure, BadResponse, TargetError, TargetRequest

SLOW_FIRST_CHUNK_SECONDS = 1.0
"""The docs: stream an interim chunk 'any time your response takes more than ~1 second'.
``$AGENTPHONE_SLOW_FIRST_CHUNK_MS`` replaces it (:func:`slow_first_chunk_ms`)."""
GRACE_AFTER_FINAL_SECONDS = 1.0
"""How long to keep reading after the final chunk, to catch bytes sent after it."""

log = logging.getLogger(__name__)
_warned_about: set[str] = set()  # the bad budget values already logged


class _Wait:
    """The exchange's next deadline: the webhook's timeout from now, never past the bound on the
    whole reply; remembers whether that bound is the one set."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float, whole: float) -> None:
        self.loop = loop
        self.timeout = timeout
        self.whole = whole
        self.ends = loop.time() + whole
        self.whole_bound = False

    def next(self) -> float:
        when = self.loop.time() + self.timeout
        self.whole_bound = when >= self.ends
        return min(when, self.ends)

    def grace(self) -> float:
        self.whole_bound = False  # the turn is closed: only stray bytes are still read
        return self.loop.time() + GRACE_AFTER_FINAL_SECONDS


async def ask_webhook(session: TurnCall, reply: AgentReply, turn: CallTurn, dtmf: str | None) -> None:
    """Send ``turn`` to the agent's webhook and feed the reply to the call as it streams in. The
    exchange counts as real work (``driver.io``): a virtual clock waits for it."""
    try:
        async with session.engine.driver.io(f"turn {reply.turn} of call {session.call.id}"):
            await _exchange(session, reply, turn, dtmf)
    finally:
        reply._closed.set()
        reply._first.set()


async def _exchange(session: TurnCall, reply: AgentReply, turn: CallTurn, dtmf: str | None) -> None:
    hook = route_webhook(session.account, session.call.agent_id)
    if hook is None:
        session.add_finding(
            reply,
            FindingCode.VOICE_NO_WEBHOOK,
            f"turn {reply.turn}: agent {session.call.agent_id} is in webhook voice mode but no webhook is "
            "configured, so the caller hears silence",
        )
        return
    envelope = voice_message_event(
        session.state, session.account, session.call, turn, hook.context_limit, dtmf=dtmf
    )
    dispatcher = session.engine.dispatcher
    record = dispatcher.open_record(
        session.account,
        hook,
        "agent.message",
        envelope,
        agent_id=session.call.agent_id,
        call_id=session.call.id,
        retries_allowed=False,  # a voice turn is now or never
    )
    reply.delivery_id = record.id
    headers = signed_headers(hook.secret, "agent.message", record.id, record.payload, int(time.time()))
    wait = _Wait(
        asyncio.get_running_loop(), hook.timeout, session.account.settings.voice_reply_deadline_seconds
    )
    started = reply._sent_perf = time.perf_counter()
    at = session.clock.now()
    status: int | None = None
    body = bytearray()
    reader: ReplyReader | None = None
    error: str | None = None
    try:
        target = session.engine.targets.resolve(hook.url)
        async with asyncio.timeout_at(wait.next()) as deadline:
            async with target.send(TargetRequest(hook.url, record.payload, headers)) as response:
                status = reply.http_status = response.status
                if not 200 <= status < 300:
                    body += await response.read(MAX_RESPONSE_BYTES)
                    error = f"HTTP {status}"
                    code = (
                        FindingCode.WEBHOOK_APP_EXCEPTION
                        if response.app_error
                        else FindingCode.WEBHOOK_HTTP_ERROR
                    )
                    session.add_finding(
                        reply,
                        code,
                        f"turn {reply.turn}: the webhook answered HTTP {status}, so the caller hears silence"
                        + refusal_hint(status),
                        offending=bytes(body),
                        http_status=status,
                        detail=response.app_error,
                    )
                    return
                reader = ReplyReader(response.headers.get("Content-Type"))
                async for data in response.chunks:
                    if len(body) < MAX_RESPONSE_BYTES:
                        body += data[: MAX_RESPONSE_BYTES - len(body)]
                    was_closed = reader.closed
                    new = reader.feed(data)
                    for chunk in new:
                        session.arrive(reply, chunk, time.perf_counter() - started)
                    if reader.too_large:
                        break  # hang up: past the cap nothing is read, so a flood stops here
                    if reader.closed and not was_closed:
                        reply._closed.set()
                        deadline.reschedule(wait.grace())
                    elif new and not reader.closed:
                        # A new chunk restarts the wait; bare bytes (a space a second) do not, or
                        # a dripping server could hold the turn open for ever; neither moves the
                        # bound on the whole reply, or interim chunks could.
                        deadline.reschedule(wait.next())
                for chunk in reader.finish():
                    session.arrive(reply, chunk, time.perf_counter() - started)
    except TimeoutError:
        if status is not None and not 200 <= status < 300:  # an error head, then a stalled body
            error = f"HTTP {status}"
            session.add_finding(
                reply,
                FindingCode.WEBHOOK_HTTP_ERROR,
                f"turn {reply.turn}: the webhook answered HTTP {status} (its body stalled past the "
                f"{hook.timeout} s timeout), so the caller hears silence",
                offending=bytes(body),
                http_status=status,
            )
        elif reader is not None and reader.closed:
            pass  # the final chunk came; the server just kept the stream open afterwards
        elif wait.whole_bound:
            error = _too_long(session, reply, wait, time.perf_counter() - started, bytes(body))
        elif not reply.chunks:
            error = f"Timed out after {hook.timeout}s"
            session.add_finding(
                reply,
                FindingCode.WEBHOOK_TIMEOUT,
                f"turn {reply.turn}: no reply within the webhook's {hook.timeout} s timeout: the platform "
                f"cancels the request and the caller hears silence for this turn{dispatcher.waited_on_hint()}",
            )
        else:
            error = f"Stalled for {hook.timeout}s after an interim chunk"
            session.add_finding(
                reply,
                FindingCode.VOICE_NO_FINAL_CHUNK,
                f"turn {reply.turn}: the NDJSON stream stalled for {hook.timeout} s after an interim chunk "
                "and never sent a final one",
                offending=bytes(body),
            )
    except AppFailure as exc:
        error = str(exc)
        session.add_finding(
            reply,
            FindingCode.WEBHOOK_APP_EXCEPTION,
            f"turn {reply.turn}: the app raised while streaming its reply: {exc}",
            offending=bytes(body),
            detail=exc.traceback,
        )
    except BadResponse as exc:  # it answered, in a head no HTTP client reads
        error = f"Unreadable response: {exc}"
        session.add_finding(
            reply,
            FindingCode.WEBHOOK_BAD_RESPONSE,
            f"turn {reply.turn}: {hook.url} answered, but {exc}, so nothing of it is read and the "
            "caller hears silence",
        )
    except TargetError as exc:
        if status is None:
            error = f"Connection failed: {exc}"
            code, message = FindingCode.WEBHOOK_UNREACHABLE, f"could not reach {hook.url}: {exc}"
        elif not 200 <= status < 300:  # an error head, then a broken body: the status is the news
            error = f"HTTP {status}"
            code, message = FindingCode.WEBHOOK_HTTP_ERROR, f"the webhook answered HTTP {status} ({exc})"
        else:  # it answered, then the connection broke: the caller heard what had arrived
            error = f"Connection broke after HTTP {status}: {exc}"
            code = FindingCode.WEBHOOK_UNREACHABLE
            message = (
                f"the connection to {hook.url} broke mid-reply, after HTTP {status} and {len(body)} body "
                f"bytes ({exc})"
            )
        heard = f"only its {len(reply.chunks)} chunk(s) before that" if reply.chunks else "silence"
        session.add_finding(
            reply,
            code,
            f"turn {reply.turn}: {message}; the caller hears {heard}",
            offending=bytes(body) or None,
            http_status=status,
        )
    except Exception as exc:  # whatever else an in-process app throws: a finding, never a silent turn
        error = scrub(f"{type(exc).__name__}: {exc}")  # the app's message may hold anything
        session.add_finding(
            reply,
            FindingCode.WEBHOOK_APP_EXCEPTION,
            f"turn {reply.turn}: the webhook's app failed: {error}",
            offending=bytes(body),
            detail=scrub(traceback.format_exc()),
        )
    finally:
        duration_ms = (time.perf_counter() - started) * 1000
        log_attempt(record, at, status, bytes(body), error, duration_ms, url=hook.url, headers=headers)
        record.status = "success" if error is None and status is not None else "failed"
        publish(session.state, session.account, "delivery", record)
        if reader is not None:
            for problem in reader.problems:
                _problem(session, reply, problem)
        _check_latency(session, reply)


def _too_long(session: TurnCall, reply: AgentReply, wait: _Wait, elapsed: float, body: bytes) -> str:
    """The bound on a whole reply ran out: a finding, and the delivery's error."""
    setting = f"the emulator's {wait.whole:g} s bound on a whole reply (AccountSettings.voice_reply_deadline_seconds)"
    if not reply.chunks:  # the bound is shorter than the webhook's timeout, and nothing came
        session.add_finding(
            reply,
            FindingCode.WEBHOOK_TIMEOUT,
            f"turn {reply.turn}: no reply within {setting}: the caller hears silence for this turn",
        )
        return f"Timed out after {wait.whole:g}s"
    interim = sum(1 for heard in reply.chunks if heard.chunk.interim)
    session.add_finding(
        reply,
        FindingCode.VOICE_REPLY_TOO_LONG,
        f"turn {reply.turn}: the reply was still streaming after {elapsed:.1f} s, {interim} interim "
        f"chunk(s) and no final one, past {setting}: the turn ends there; send a final chunk "
        '(without "interim": true) to close it',
        offending=body,
    )
    return f"Still streaming after {wait.whole:g}s ({interim} interim chunks, no final one)"


async def ask_hosted(session: TurnCall, reply: AgentReply) -> None:
    """Ask the built-in responder (hosted mode); its answer is read like a JSON webhook reply, so
    scripted replies get the same checks."""
    assert session.responder is not None
    started = reply._sent_perf = time.perf_counter()
    try:
        async with session.engine.driver.io(f"turn {reply.turn} of call {session.call.id} (hosted)"):
            prompt = session.call.system_prompt or (session.agent.system_prompt if session.agent else None)
            question = HostedTurn(
                system_prompt=fill_variables(prompt, session.call.variables),
                transcript=[(t.role, t.content) for t in session.call.turns],
                call_id=session.call.id,
                agent_id=session.call.agent_id,
            )
            try:
                answer = await session.responder.reply(question)
            except HostedError as exc:
                session.add_finding(reply, FindingCode.HOSTED_LLM_ERROR, f"turn {reply.turn}: {exc}")
                return
            reader = read_object(answer)
            for chunk in reader.chunks:
                session.arrive(reply, chunk, time.perf_counter() - started)
            for problem in reader.problems:
                _problem(session, reply, problem)
    finally:
        reply._closed.set()
        reply._first.set()


def slow_first_chunk_ms() -> float:
    """The first-chunk budget: ``$AGENTPHONE_SLOW_FIRST_CHUNK_MS`` if it is a number of ms >= 0, else
    the docs' second. Read at each check, so a test may set it; a bad value is logged once, by name."""
    raw = os.environ.get(SLOW_FIRST_CHUNK_ENV)
    if raw is None:
        return SLOW_FIRST_CHUNK_SECONDS * 1000
    try:
        budget = float(raw)
    except ValueError:
        budget = math.nan
    if math.isfinite(budget) and budget >= 0:
        return budget
    if raw not in _warned_about:
        _warned_about.add(raw)
        log.warning(
            "%s=%r is not a number of milliseconds >= 0; using %g",
            SLOW_FIRST_CHUNK_ENV,
            raw,
            SLOW_FIRST_CHUNK_SECONDS * 1000,
        )
    return SLOW_FIRST_CHUNK_SECONDS * 1000


def _check_latency(session: TurnCall, reply: AgentReply) -> None:
    first = reply.first_chunk_ms
    if first is not None and first > slow_first_chunk_ms():
        session.add_finding(
            reply,
            FindingCode.VOICE_SLOW_FIRST_CHUNK,
            f"turn {reply.turn}: the caller heard {first / 1000:.1f} s of silence before the first chunk; "
            'stream an interim chunk such as {"text": "One moment.", "interim": true} before slow work',
            severity="warning",
            offending=reply.chunks[0].chunk.raw,
        )


def _problem(session: TurnCall, reply: AgentReply, problem: ReplyProblem) -> None:
    session.add_finding(
        reply,
        problem.code,
        f"turn {reply.turn}: {problem.message}",
        severity=problem.severity,
        offending=problem.offending,
    )
