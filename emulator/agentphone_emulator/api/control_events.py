"""The live event stream, ``GET /__emulator/events``: every call, transcript line, reply, chunk,
key press, finding, text and webhook delivery of the key's account as it happens, as server-sent
events (the console page reads it; so can any tool). Shapes: models/control_events.py.

Each change is encoded once, when it happens (store/live.py calls :class:`Hub` inside the
writer), and the same bytes are queued for every stream that wants them. A stream's queue is
bounded (:data:`QUEUE_LIMIT` events): a client that reads too slowly loses the events past it and
then gets one ``overflow`` event saying how many, so a stuck page costs a fixed amount of memory
and never slows the calls it watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from ..clock import VirtualClock
from ..engine.agent_reply import HeardChunk
from ..errors import conflict, not_found, validation_error
from ..models.control import ChunkOut
from ..models.control_events import (
    EVENT_TYPES,
    BoardNumberOut,
    BoardOut,
    BoardQuery,
    CallEventOut,
    CallSummaryOut,
    ChunkEventOut,
    DeliveryEventOut,
    DeliverySummaryOut,
    EventsQuery,
    FindingEventOut,
    KeysEventOut,
    LastAttemptOut,
    LiveEventOut,
    OverflowEventOut,
    ReadyEvent,
    ReplyEventOut,
    ResetEventOut,
    TextEventOut,
    TextOut,
    TurnEventOut,
)
from ..store import calls as call_store
from ..store import webhooks as webhook_store
from ..store.account import Account, EmulatorState
from ..store.live import LiveKind, watch
from ..store.records import CallRecord, DeliveryRecord, MessageRecord
from .control_calls import reply_view
from .framework import Ctx, Router

PREFIX = "/__emulator"
router = Router("emulator events")

QUEUE_LIMIT = 4096
"""Events held for one stream that reads slower than they come; past it they are dropped."""
HEARTBEAT_SECONDS = 15.0
"""A comment line this often while nothing happens, so proxies and clients keep the stream."""


@dataclass(eq=False, slots=True)
class Stream:
    """One open ``/__emulator/events`` stream: what it wants and what waits to be written."""

    account_id: str
    types: frozenset[str]
    call_id: str | None
    frames: deque[bytes] = field(default_factory=deque)
    dropped: int = 0
    closing: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def wants(self, kind: str, call_id: str | None) -> bool:
        return kind in self.types and (self.call_id is None or call_id == self.call_id)

    def put(self, frame: bytes) -> None:
        if len(self.frames) >= QUEUE_LIMIT:
            self.dropped += 1
        else:
            self.frames.append(frame)
        self.wake.set()


class Hub:
    """The streams open on one emulator's state, and the encoding of its changes for them."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.streams: set[Stream] = set()
        self.seq = 0
        self.produced = 0
        """Events encoded so far (what a bench compares with what clients received)."""
        self._watching: contextlib.ExitStack | None = None

    def open(self, stream: Stream) -> None:
        self.streams.add(stream)
        if self._watching is None:
            self._watching = contextlib.ExitStack()
            self._watching.enter_context(watch(self.state, self.changed))

    def close(self, stream: Stream) -> None:
        self.streams.discard(stream)
        if not self.streams and self._watching is not None:
            self._watching.close()  # nobody left: the engine's publishes are free again
            self._watching = None

    def frame(self, event: BaseModel) -> bytes:
        data = event.model_dump_json(by_alias=True)
        return f"id: {event.seq}\nevent: {event.type}\ndata: {data}\n\n".encode()  # type: ignore[attr-defined]

    def changed(self, kind: LiveKind, account: Account | None, subject: Any) -> None:
        """store/live.py's watcher: encode the change once, queue it for each stream that wants it."""
        if kind == "closing":
            for stream in self.streams:
                stream.closing = True
                stream.wake.set()
            return
        call_id = _call_id_of(kind, subject)
        streams = [
            s
            for s in self.streams
            if (account is None or s.account_id == account.id) and s.wants(kind, call_id)
        ]
        if not streams:
            return
        self.seq += 1
        self.produced += 1
        frame = self.frame(_event(kind, subject, self.seq, self.state.now()))
        for stream in streams:
            stream.put(frame)


_hubs: weakref.WeakKeyDictionary[EmulatorState, Hub] = weakref.WeakKeyDictionary()


def hub_of(state: EmulatorState) -> Hub:
    """The event streams' hub of ``state`` (made on first use)."""
    hub = _hubs.get(state)
    if hub is None:
        hub = _hubs[state] = Hub(state)
    return hub


def _call_id_of(kind: str, subject: Any) -> str | None:
    if kind == "call":
        return str(subject.id)
    if kind in ("turn", "reply", "chunk", "keys"):
        return str(subject[0].id)
    if kind in ("finding", "delivery"):
        return subject.call_id  # type: ignore[no-any-return]
    return None


def call_summary(call: CallRecord) -> CallSummaryOut:
    return CallSummaryOut(
        id=call.id,
        agent_id=call.agent_id,
        from_=call.from_number,
        to=call.to_number,
        direction=call.direction,
        status=call.status,
        live=call_store.is_live(call),
        started_at=call.started_at,
        ended_at=call.ended_at,
        disconnection_reason=call.disconnection_reason,
        transferred_to=call.transferred_to,
        has_recording=call.recording is not None,
    )


def delivery_summary(record: DeliveryRecord) -> DeliverySummaryOut:
    last = record.attempts[-1] if record.attempts else None
    return DeliverySummaryOut(
        id=record.id,
        event_type=record.event_type,
        channel=record.channel,
        url=record.url,
        agent_id=record.agent_id,
        call_id=record.call_id,
        message_id=record.message_id,
        status=record.status,
        attempt_count=record.attempt_count,
        next_retry_at=record.next_retry_at,
        created_at=record.created_at,
        test=record.test,
        last_attempt=None
        if last is None
        else LastAttemptOut(
            at=last.at,
            http_status=last.http_status,
            error_message=last.error_message,
            duration_ms=round(last.duration_ms, 3),
        ),
    )


def text_view(message: MessageRecord) -> TextOut:
    return TextOut(
        id=message.id,
        conversation_id=message.conversation_id,
        number_id=message.number_id,
        from_=message.from_number,
        to=message.to_number,
        body=message.body,
        channel=message.channel,
        direction=message.direction,
        status=message.status,
        created_at=message.created_at,
        media_urls=list(message.media_urls),
    )


def _event(kind: LiveKind, subject: Any, seq: int, at: Any) -> BaseModel:
    if kind == "call":
        return CallEventOut(seq=seq, at=at, call=call_summary(subject))
    if kind == "turn":
        call, turn = subject
        return TurnEventOut(
            seq=seq,
            at=at,
            call_id=call.id,
            id=turn.id,
            role=turn.role,
            content=turn.content,
            confidence=turn.confidence,
        )
    if kind == "reply":
        call, reply = subject
        return ReplyEventOut(seq=seq, at=at, call_id=call.id, reply=reply_view(reply))
    if kind == "chunk":
        call, reply, heard = subject
        view = chunk_view(heard)
        return ChunkEventOut(
            seq=seq, at=at, call_id=call.id, turn=reply.turn, index=len(reply.chunks) - 1, chunk=view
        )
    if kind == "keys":
        call, press = subject
        return KeysEventOut(seq=seq, at=at, call_id=call.id, by=press.by, digits=press.digits)
    if kind == "finding":
        return FindingEventOut(seq=seq, at=at, finding=subject.to_dict())
    if kind == "text":
        return TextEventOut(seq=seq, at=at, message=text_view(subject))
    if kind == "delivery":
        return DeliveryEventOut(seq=seq, at=at, delivery=delivery_summary(subject))
    return ResetEventOut(seq=seq, at=at)


def chunk_view(heard: HeardChunk) -> ChunkOut:
    """One heard chunk as ``ReplyOut.chunks`` has it."""
    return ChunkOut(
        text=heard.chunk.text,
        spoken=heard.spoken,
        interim=heard.chunk.interim,
        latency_ms=round(heard.latency_ms, 3),
        arrived_at=heard.arrived_at,
        starts_at=heard.starts_at,
        ends_at=heard.ends_at,
    )


def _types(query: EventsQuery) -> frozenset[str]:
    if query.types is None:
        return frozenset(EVENT_TYPES)
    asked = frozenset(query.types.split(","))
    unknown = sorted(asked - frozenset(EVENT_TYPES))
    if unknown:
        raise validation_error(
            ["query", "types"],
            f"unknown event type(s) {', '.join(unknown)}: the types are {', '.join(EVENT_TYPES)}",
            query.types,
        )
    return asked | {"ready", "overflow", "reset"}


@router.get(
    f"{PREFIX}/events",
    response=LiveEventOut,
    query=EventsQuery,
    response_media_type="text/event-stream",
)
async def stream_events(ctx: Ctx, *, query: EventsQuery) -> web.StreamResponse:
    """Live events of the account (SSE): calls, turns, replies, chunks, keys, findings, texts, deliveries"""
    stream = Stream(account_id=ctx.account.id, types=_types(query), call_id=query.call_id)
    hub = hub_of(ctx.state)
    response = web.StreamResponse(headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    response.content_type = "text/event-stream"
    response.charset = "utf-8"
    hub.open(stream)
    try:
        await response.prepare(ctx.request)
        hub.seq += 1
        ready = ReadyEvent(
            seq=hub.seq,
            at=ctx.state.now(),
            account_id=ctx.account.id,
            virtual_clock=isinstance(ctx.state.clock, VirtualClock),
            queue_limit=QUEUE_LIMIT,
        )
        await response.write(b"retry: 1000\n" + hub.frame(ready))
        while not stream.closing:
            if not stream.frames and not stream.dropped:
                stream.wake.clear()
                try:
                    await asyncio.wait_for(stream.wake.wait(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    await response.write(b": heartbeat\n\n")
                continue
            batch = b"".join(stream.frames)
            stream.frames.clear()
            await response.write(batch)
            if stream.dropped:
                hub.seq += 1
                dropped, stream.dropped = stream.dropped, 0
                overflow = OverflowEventOut(seq=hub.seq, at=ctx.state.now(), dropped=dropped)
                await response.write(hub.frame(overflow))
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client went away: unsubscribing is all there is to do
    finally:
        hub.close(stream)
    return response


@router.get(f"{PREFIX}/board", response=BoardOut, query=BoardQuery)
async def board(ctx: Ctx, *, query: BoardQuery) -> BoardOut:
    """The account's calls, texts, deliveries, findings and numbers now, in the event stream's shapes"""
    account, limit = ctx.account, query.limit
    return BoardOut(
        at=ctx.state.now(),
        virtual_clock=isinstance(ctx.state.clock, VirtualClock),
        numbers=[
            BoardNumberOut(
                id=number.id,
                phone_number=number.phone_number,
                type=number.type,
                agent_id=number.agent_id,
                agent_name=agent.name if (agent := account.agents.get(number.agent_id or "")) else None,
            )
            for number in account.active_numbers()
        ],
        calls=[call_summary(c) for c in sorted(account.calls.values(), key=lambda c: c.started_at)][-limit:],
        texts=[text_view(m) for m in list(account.messages.values())[-limit:]],
        deliveries=[delivery_summary(d) for d in webhook_store.oldest_first(account)[-limit:]],
        findings=[f.to_dict() for f in account.findings[-limit:]],
    )


@router.get(f"{PREFIX}/calls/{{call_id}}/scenario", response=None, response_media_type="application/yaml")
async def export_scenario(ctx: Ctx, *, call_id: str) -> web.Response:
    """A call as a scenario YAML that replays it with `agentphone-emulator run` (live calls and the last 100 ended)"""
    from ..mic.conversation import MicResult, Utterance  # mic mode's writer (mic/scenario_writer.py)
    from ..mic.scenario_writer import scenario_document
    from .agents import agent_out
    from .control_calls import call_view

    call = ctx.account.calls.get(call_id)
    if call is None:
        raise not_found("Call")
    session = ctx.platform.voice.known_session(call_id)
    if session is None:
        raise conflict(
            f"call {call_id} is no longer known turn by turn (only live calls and the last ended ones are)",
            code="CALL_FORGOTTEN",
        )
    view = await call_view(ctx, call, session)
    replies = {reply.turn: reply for reply in view.replies}
    user_keys = {press.digits for press in call.key_presses if press.by == "user"}
    utterances: list[Utterance] = []
    for reply in view.replies:
        if reply.turn == 0:
            continue
        before = replies.get(reply.turn - 1)
        cut_after = None
        if before is not None and before.state == "interrupted" and before.interrupted_at and before.chunks:
            spoken_from = before.chunks[0].starts_at
            cut_after = round(max(0.0, (before.interrupted_at - spoken_from).total_seconds()), 3)
        utterances.append(
            Utterance(
                text=reply.utterance,
                began=0.0,
                ended=0.0,
                turn=reply.turn,
                cut_after=cut_after,
                keys=reply.utterance in user_keys and reply.utterance.strip("0123456789*#") == "",
            )
        )
    agent = ctx.account.agents.get(call.agent_id or "")
    result = MicResult(call=view, utterances=utterances, timings={}, replies=replies, ended_by="caller")
    text = scenario_document(
        result,
        agent=agent_out(ctx.account, agent) if agent is not None else None,
        replay_command="agentphone-emulator run FILE --app your.module:app",
        stt_name="none: typed in the console",
    )
    return web.Response(
        text=text,
        content_type="application/yaml",
        headers={"Content-Disposition": f'attachment; filename="{call_id}.scenario.yaml"'},
    )
