"""The live event stream, ``GET /__emulator/events``: every call, transcript line, reply, chunk,
key press, finding, text and webhook delivery of the key's account as it happens, as server-sent
events (the console page reads it; so can any tool). Shapes: models/control_events.py; what the
stream keeps current, as it is now: ``GET /__emulator/board``.

Cheap for the calls it watches. A change costs the engine one append (store/live.py calls
:meth:`Hub.changed` inside the writer); every :data:`BATCH_SECONDS` the hub encodes what changed,
once for all streams, each object once however often it changed in the batch (a reply's start,
chunks and end in one ``reply`` event, a delivery's logging and answer in one ``delivery``), at
the place of its latest change (:class:`Batch`: so what happened before a state is sent before
it), and hands the bytes to each stream that wants them. A stream's queue is bounded (:data:`QUEUE_LIMIT`
events): a client that reads too slowly loses the events past it and then gets one ``overflow``
event saying how many, so a stuck page costs a fixed amount of memory and never slows the calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import weakref
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import pydantic_core
from aiohttp import web

from ..clock import VirtualClock, iso
from ..errors import conflict, not_found, validation_error
from ..models.control_events import EVENT_TYPES, BoardOut, BoardQuery, EventsQuery, LiveEventOut
from ..store import webhooks as webhook_store
from ..store.account import Account, EmulatorState
from ..store.live import LiveKind, watch
from .call_views import call_view
from .framework import Ctx, Router
from .live_wire import call_data, chunk_data, delivery_data, reply_data, text_data, turn_data

PREFIX = "/__emulator"
router = Router("emulator events")

QUEUE_LIMIT = 4096
"""Events held for one stream that reads slower than they come; past it they are dropped."""
BATCH_SECONDS = 0.02
"""How long (real time) changes gather before they are encoded and written: one write per batch
rather than one per event, each changed object encoded once. A page draws at most once a frame."""
HEARTBEAT_SECONDS = 15.0
"""A comment line this often while nothing happens, so proxies and clients keep the stream."""

# Kinds whose subject is one object that changes: a batch sends its latest state once.
_COALESCED = frozenset({"call", "reply", "delivery", "text"})


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
        # A reset concerns every call: a stream of one call reads it again too.
        return kind in self.types and (self.call_id is None or call_id == self.call_id or kind == "reset")

    def put(self, frame: bytes) -> None:
        if len(self.frames) >= QUEUE_LIMIT:
            self.dropped += 1
        else:
            self.frames.append(frame)
        self.wake.set()


T = TypeVar("T")


class Batch(Generic[T]):
    """The changes gathered between two flushes, in order, an object that changes again kept
    once: at the place of its latest change, not its first.

    So a batch's events are in the order of each one's latest change, which is what a client
    sees: when an object's state comes (a call that ended, a reply done), everything that
    happened before that state came first (the call's turns, replies and keys), and a client may
    stop reading at a call's end. Kept at its first change instead, a call that rang, talked and
    ended within one batch (a virtual clock) came, already ended, ahead of all its turns. The
    price: a turn, key or chunk may name a call or reply whose own event comes later in the
    same batch, as the documentation says (keep the latest of each object by id)."""

    __slots__ = ("_items", "_places")

    def __init__(self) -> None:
        self._items: list[T | None] = []  # None: an entry that moved on to a later change
        self._places: dict[Hashable, int] = {}

    def add(self, item: T, key: Hashable | None = None) -> None:
        """Note ``item``; one with a ``key`` (an object that changes) replaces that key's earlier
        item of the batch, and takes this later place."""
        if key is not None:
            earlier = self._places.get(key)
            if earlier is not None:
                self._items[earlier] = None
            self._places[key] = len(self._items)
        self._items.append(item)

    def take(self) -> list[T]:
        """The batch, in order; the batch is empty afterwards."""
        items, self._items = self._items, []
        self._places.clear()
        return [item for item in items if item is not None]

    def clear(self) -> None:
        self._items.clear()
        self._places.clear()


@dataclass(slots=True)
class _Change:
    kind: LiveKind
    account_id: str | None
    call_id: str | None
    subject: Any
    at: datetime
    index: int = 0  # a chunk's place in its reply, when it arrived


class Hub:
    """The streams open on one emulator's state, and the batching and encoding of its changes."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.streams: set[Stream] = set()
        self.seq = 0
        self.produced = 0
        """Events encoded so far (what a bench compares with what clients received)."""
        self._watching: contextlib.ExitStack | None = None
        self._wanted: frozenset[str] = frozenset()
        """The kinds some open stream wants: a change of any other kind costs one set lookup."""
        self._of_any_call: frozenset[str] = frozenset()
        """The kinds some stream wants of every call (the others only of the calls in
        :attr:`_calls`: a page follows the timeline of the one call on its screen)."""
        self._calls: frozenset[str | None] = frozenset()
        self._pending: Batch[_Change] = Batch()
        self._flush: asyncio.TimerHandle | None = None

    def _want(self) -> None:
        self._wanted = frozenset().union(*(s.types for s in self.streams))
        self._of_any_call = frozenset().union(*(s.types for s in self.streams if s.call_id is None))
        self._calls = frozenset(s.call_id for s in self.streams if s.call_id is not None)

    def open(self, stream: Stream) -> None:
        self.streams.add(stream)
        self._want()
        if self._watching is None:
            self._watching = contextlib.ExitStack()
            self._watching.enter_context(watch(self.state, self.changed))

    def close(self, stream: Stream) -> None:
        self.streams.discard(stream)
        self._want()
        if not self.streams and self._watching is not None:
            self._watching.close()  # nobody left: the engine's publishes are free again
            self._watching = None
            self._pending.clear()

    def frame(self, seq: int, kind: str, data: dict[str, Any]) -> bytes:
        # pydantic's Rust encoder: several times json.dumps's speed, one line (a newline in a string
        # is escaped, so the SSE data line stays one line), UTF-8 as it is.
        data = {"seq": seq, "type": kind, **data}
        try:
            encoded = pydantic_core.to_json(data)
        except pydantic_core.PydanticSerializationError:  # a lone surrogate: json escapes it (as \udXXX)
            encoded = json.dumps(data, separators=(",", ":")).encode()
        return b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, kind.encode(), encoded)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def changed(self, kind: LiveKind, account: Account | None, subject: Any) -> None:
        """store/live.py's watcher: note the change; the batch encodes it (:meth:`flush`)."""
        if kind == "closing":
            for stream in self.streams:
                stream.closing = True
                stream.wake.set()
            return
        if kind not in self._wanted:
            return  # nobody reads it (the console asks for no transcript lines: its replies have them)
        call_id = _call_id_of(kind, subject)
        if call_id is not None and kind not in self._of_any_call and call_id not in self._calls:
            return  # wanted only of other calls
        # An object that changes is sent once a batch, with its latest state, at its latest change.
        key = (kind, id(subject if kind != "reply" else subject[1])) if kind in _COALESCED else None
        index = len(subject[1].chunks) - 1 if kind == "chunk" else 0
        account_id = None if account is None else account.id
        self._pending.add(_Change(kind, account_id, call_id, subject, self.state.now(), index), key)
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(BATCH_SECONDS, self.flush)

    def flush(self) -> None:
        """Encode the batch's changes, each once, and queue them for the streams that want them."""
        self._flush = None
        pending = self._pending.take()
        replies = {id(change.subject[1]) for change in pending if change.kind == "reply"}
        for change in pending:
            if change.kind == "chunk" and id(change.subject[1]) in replies:
                continue  # its reply, in this batch too, carries it
            streams = [
                s
                for s in self.streams
                if (change.account_id is None or s.account_id == change.account_id)
                and s.wants(change.kind, change.call_id)
            ]
            if not streams:
                continue
            self.produced += 1
            data = {"at": iso(change.at), **_data(change)}
            frame = self.frame(self.next_seq(), change.kind, data)
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


def _data(change: _Change) -> dict[str, Any]:
    kind, subject = change.kind, change.subject
    if kind == "call":
        return {"call": call_data(subject)}
    if kind == "turn":
        return turn_data(*subject)
    if kind == "reply":
        call, reply = subject
        return {"callId": call.id, "reply": reply_data(reply)}
    if kind == "chunk":
        call, reply, heard = subject
        return {"callId": call.id, "turn": reply.turn, "index": change.index, "chunk": chunk_data(heard)}
    if kind == "keys":
        call, press = subject
        return {"callId": call.id, "by": press.by, "digits": press.digits}
    if kind == "finding":
        return {"finding": subject.to_dict()}
    if kind == "text":
        return {"message": text_data(subject)}
    if kind == "delivery":
        return {"delivery": delivery_data(subject)}
    return {}  # reset


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
        ready = {
            "at": iso(ctx.state.now()),
            "accountId": ctx.account.id,
            "virtualClock": isinstance(ctx.state.clock, VirtualClock),
            "queueLimit": QUEUE_LIMIT,
        }
        await response.write(b"retry: 1000\n" + hub.frame(hub.next_seq(), "ready", ready))
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
                dropped, stream.dropped = stream.dropped, 0
                overflow = {"at": iso(ctx.state.now()), "dropped": dropped}
                await response.write(hub.frame(hub.next_seq(), "overflow", overflow))
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
    numbers = [
        {
            "id": number.id,
            "phoneNumber": number.phone_number,
            "type": number.type,
            "agentId": number.agent_id,
            "agentName": agent.name if (agent := account.agents.get(number.agent_id or "")) else None,
        }
        for number in account.active_numbers()
    ]
    calls = sorted(account.calls.values(), key=lambda c: c.started_at)[-limit:]
    return BoardOut.model_validate(
        {
            "at": ctx.state.now(),
            "virtualClock": isinstance(ctx.state.clock, VirtualClock),
            "numbers": numbers,
            "calls": [call_data(c) for c in calls],
            "texts": [text_data(m) for m in list(account.messages.values())[-limit:]],
            "deliveries": [delivery_data(d) for d in webhook_store.oldest_first(account)[-limit:]],
            "findings": [f.to_dict() for f in account.findings[-limit:]],
        }
    )


@router.get(f"{PREFIX}/calls/{{call_id}}/scenario", response=None, response_media_type="application/yaml")
async def export_scenario(ctx: Ctx, *, call_id: str) -> web.Response:
    """A call as a scenario YAML that replays it with `agentphone-emulator run` (live calls and the last 100 ended)"""
    from ..speech.call_record import MicResult, Utterance  # mic mode's writer (speech/scenario_writer.py)
    from ..speech.scenario_writer import scenario_document
    from .agents import agent_out

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
    # mic mode's header, said of the console: the words were typed (or heard by the audio bridge).
    text = re.sub(
        r"^# Recorded by `agentphone-emulator mic` on (.*?) \(speech recognised by [^)]*\)\.",
        r"# Exported from the agentphone-emulator console on \1 (the caller's words as the call had them).",
        text,
        count=1,
    )
    return web.Response(
        text=text,
        content_type="application/yaml",
        headers={"Content-Disposition": f'attachment; filename="{call_id}.scenario.yaml"'},
    )
