"""Talk on a call through a browser's microphone: ``GET /__emulator/calls/{callId}/audio``, a
WebSocket (docs/mic.md, "In the browser", has the frames).

The browser cannot set headers on a WebSocket, so the API key comes in the first frame
(``{"type": "start", "apiKey": ..., "sampleRate": ...}``; an ``Authorization`` header is taken too);
then PCM16LE mono frames go up, and text frames (partial words, the utterance sent as the caller's
turn, barge-in, the agent's reply chunks, the end) and the agent's speech (PCM16LE mono 16 kHz) come
down. What happens in between is microphone mode's pipeline on the emulator's side
(``speech/bridge_ears.py``: segmenter, recogniser on a thread; ``speech/bridge_call.py``: the call
and the one synthesiser); this module is the door: who may connect, to which call, and the engine's
side of the call.

Every refusal is a text frame ``{"type": "error", "message": ...}`` then a close with a code of
``speech/bridge_frames.py`` (4400 a bad frame, 4401 no or a wrong key, 4403 another origin or a key
with no account, 4404 no such call on the key's account, 4409 the call is over or another
connection took it, 4413 a frame too large, 4429 too many connections, 4500 no recogniser or
synthesiser); the emulator keeps serving. A WebSocket is not covered by CORS, so a page from
another origin is refused before anything is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from ..clock import VirtualClock
from ..engine.agent_reply import AgentReply, HeardChunk
from ..engine.call_protocols import CallEnded
from ..engine.call_session import CallSession
from ..errors import ApiError, unauthorized
from ..store import calls as call_store
from ..store.account import Account, EmulatorState
from .access import ACCESS_KEY
from .framework import Ctx, Router, bearer_key

if TYPE_CHECKING:
    from ..speech.bridge_call import BrowserCall
    from ..speech.bridge_ears import Ears

log = logging.getLogger("agentphone_emulator.api.audio")

PREFIX = "/__emulator"
router = Router("emulator call audio")

START_TIMEOUT_SECONDS = 10.0  # for the first frame
MAX_MESSAGE_BYTES = 256 * 1024  # aiohttp's own cap (1009); frames are checked against 1 s of audio first
DRAIN_SECONDS = 5.0  # the agent's last words, synthesised and sent before "ended"
WATCH_SECONDS = 1.0  # how often the end watcher looks for a reset under it


_speech: tuple[str, str | None] = ("auto", None)
_end_silence_ms: int | None = None


def configure_speech(
    stt: str = "auto", model: str | None = None, *, end_silence_ms: int | None = None
) -> None:
    """The recogniser for connections opened from now on, in this process (``serve --stt``):
    ``auto`` (Vosk when ``$AGENTPHONE_VOSK_MODEL`` names a model, else pocketsphinx), ``pocketsphinx``,
    or ``vosk`` with ``model``, a model directory; whatever ``speech/stt.py``'s ``load_recognizer`` knows.
    Where a turn ends follows from it (``speech/bridge_ears.py``'s ``end_of_turn``: Whisper with
    Silero ends a finished sentence early); ``end_silence_ms`` fixes the silence instead
    (``mic --browser --end-silence-ms``)."""
    global _speech, _end_silence_ms
    _speech = (stt, model)
    _end_silence_ms = end_silence_ms


class _Refused(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


async def _refuse(ws: web.WebSocketResponse, code: int, message: str) -> None:
    """Say why in a frame (no length limit), then close with the code and the reason (at most 123 bytes)."""
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.send_json({"type": "error", "message": message})
    reason = message.encode()[:123].decode(errors="ignore").encode()
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.close(code=code, message=reason)


def same_origin(origin: str, request: web.Request) -> bool:
    """``origin`` (the browser's ``Origin`` header) is the emulator's own: scheme, host and port."""
    try:
        given = urlsplit(origin)
        own = urlsplit(f"{request.scheme}://{request.host}")
        ports = (given.port, own.port)
    except ValueError:
        return False
    default = {"http": 80, "https": 443}
    scheme = given.scheme.lower()
    own_scheme = own.scheme.lower()
    return (
        scheme == own_scheme
        and (given.hostname or "") == (own.hostname or "")
        and (ports[0] or default.get(scheme)) == (ports[1] or default.get(own_scheme))
    )


def _account(
    state: EmulatorState, request: web.Request, key: str | None, sub_account_id: str | None
) -> Account:
    """The key's account (or its sub-account), as a REST request's would be; else _Refused."""
    if key is None:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        key = given.strip() if scheme.lower() == "bearer" and given.strip() else None
    if key is None:
        raise _Refused(
            4401, 'Not authenticated: send {"type": "start", "apiKey": "...", "sampleRate": ...} first'
        )
    account = state.find_account_by_key(key)
    if account is None:
        if request.app[ACCESS_KEY].is_admin(key):
            raise _Refused(
                4403, "the admin key has no account of its own: talk on a call with its account's API key"
            )
        raise _Refused(4401, "Invalid API key")
    sub_account_id = sub_account_id or request.headers.get("X-Sub-Account-Id")
    if sub_account_id:
        sub = state.accounts.get(sub_account_id)
        if sub is None or sub.parent_id != account.id:
            raise _Refused(4404, "Sub-account not found")
        return sub
    return account


def _session(ctx: Ctx, account: Account, call_id: str) -> CallSession:
    call = account.calls.get(call_id)
    if call is None:
        raise _Refused(4404, f"Call not found: {call_id} is not a call of this API key's account")
    if not call_store.is_live(call):
        raise _Refused(
            4409, f"call {call_id} has ended ({call.status}, {call.disconnection_reason or 'no reason'})"
        )
    if isinstance(ctx.state.clock, VirtualClock):
        raise _Refused(
            4409,
            "the emulator runs on a virtual clock: talking takes real time, so serve it on the real "
            "clock (agentphone-emulator serve, without --virtual-clock)",
        )
    session = ctx.platform.voice.sessions.get(call_id)
    if session is None:
        raise _Refused(4409, f"call {call_id} has nobody on the line yet (join a web call first)")
    return session


# -- the engine's side ---------------------------------------------------------------------------------


class _EnginePort:
    """The call's actions, as mic mode's control-plane requests do them (``CallPort``)."""

    def __init__(self, session: CallSession, state: EmulatorState) -> None:
        self.session = session
        self.state = state
        self.speed = session.speed

    def latest_turn(self) -> int:
        replies = self.session.replies
        return replies[-1].turn if replies else -1

    async def _drive(self, action: Any) -> Any:
        from ..speech.bridge_call import CallOver

        # Shielded: a socket closing right after the caller's last words does not cancel their
        # turn half way through the engine (a cut, a turn appended, its reply started).
        work = asyncio.ensure_future(self.session.engine.driver.until(action))
        try:
            return await asyncio.shield(work)
        except CallEnded:
            raise CallOver() from None
        finally:
            self.state.touch()  # the state changed (a turn, a cut): serve --state saves it

    async def barge_in(self, started_ago: float) -> bool:
        at = self.session.clock.now() - timedelta(seconds=max(0.0, started_ago))
        cut = await self._drive(self.session.barge_in(at=at))
        return cut is not None

    async def say(self, text: str, *, said_over: float, confidence: float) -> int:
        reply = await self._drive(
            self.session.utter(text, confidence=confidence, barge_in=True, said_over=said_over)
        )
        turn: int = reply.turn
        return turn

    async def hangup(self) -> None:
        await self._drive(self.session.hangup())


class _Relay:
    """The one chunk listener a session gets (``on_chunk`` has no removal): it forwards to the
    connection that has the call's audio now, if any."""

    def __init__(self) -> None:
        self.target: BrowserCall | None = None
        self.replaced: Callable[[], None] | None = None

    def __call__(self, reply: AgentReply, heard: HeardChunk) -> None:
        if self.target is not None:
            self.target.chunk(reply.turn, heard.chunk.text, heard.chunk.interim)


_relays: weakref.WeakKeyDictionary[CallSession, _Relay] = weakref.WeakKeyDictionary()


def _relay(session: CallSession) -> _Relay:
    relay = _relays.get(session)
    if relay is None:
        relay = _relays[session] = _Relay()
        session.on_chunk(relay)
    return relay


async def _watch_end(ctx: Ctx, account: Account, session: CallSession) -> dict[str, Any] | None:
    """The ``ended`` frame once the call ends; None if the emulator is stopping."""
    call = session.call
    with call_store.subscribe(ctx.state, account, call) as events:
        waiting: asyncio.Task[call_store.CallEvent] | None = None
        try:
            while call_store.is_live(call):
                # One get() kept across the checks: wait_for's timeout could lose an event it took.
                waiting = waiting or asyncio.ensure_future(events.get())
                done, _ = await asyncio.wait({waiting}, timeout=WATCH_SECONDS)
                if not done:
                    if call_store.is_live(call) and ctx.platform.voice.sessions.get(call.id) is not session:
                        return {"type": "ended", "reason": "emulator_reset", "status": None}  # or a restore
                    continue
                event, waiting = waiting.result(), None
                if event.kind == "closing":
                    return None
        finally:
            if waiting is not None:
                waiting.cancel()
    return {"type": "ended", "reason": call.disconnection_reason, "status": call.status}


# -- the route ---------------------------------------------------------------------------------------


@router.get(
    f"{PREFIX}/calls/{{call_id}}/audio",
    response=None,
    auth=False,  # the key comes in the first frame: browsers cannot set a WebSocket's headers
    status=101,
    response_media_type="application/octet-stream",
)
async def call_audio(ctx: Ctx, *, call_id: str) -> web.StreamResponse:
    """Talk on a live call through a browser's microphone: a WebSocket (first frame {"type": "start", "apiKey", "sampleRate"}, then PCM16LE)"""
    ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, heartbeat=30.0)
    if not ws.can_prepare(ctx.request).ok:
        # A plain HTTP request is answered as on every other route first: without a valid key,
        # 401 (and nothing about what the route is); with one, the hint to upgrade.
        key = bearer_key(ctx.request)
        if ctx.state.find_account_by_key(key) is None and not ctx.request.app[ACCESS_KEY].is_admin(key):
            raise unauthorized("Invalid API key")
        raise ApiError(
            426,
            "This is a WebSocket: connect with one (Upgrade: websocket), sending "
            '{"type": "start", "apiKey": "...", "sampleRate": 16000} first',
            code="WEBSOCKET_REQUIRED",
        )
    await ws.prepare(ctx.request)
    try:
        await _converse(ctx, ws, call_id)
    except _Refused as refused:
        await _refuse(ws, refused.code, refused.message)
    except Exception:
        log.exception("browser audio on call %s failed", call_id)
        await _refuse(ws, 1011, "internal error: the emulator's log says what")
    finally:
        if not ws.closed:
            await ws.close()
    return ws


async def _converse(ctx: Ctx, ws: web.WebSocketResponse, call_id: str) -> None:
    from ..engine.synthesis import TtsError
    from ..speech.bridge_call import BrowserCall, shared_synthesizer
    from ..speech.bridge_ears import Ears, recognizers
    from ..speech.bridge_frames import ProtocolError, parse_start
    from ..speech.stt import SttError

    origin = ctx.request.headers.get("Origin")
    if origin is not None and not same_origin(origin, ctx.request):
        raise _Refused(
            4403,
            f"Origin {origin} is not the emulator's own: a page from elsewhere may not talk on its calls",
        )
    try:
        first = await ws.receive(timeout=START_TIMEOUT_SECONDS)
    except TimeoutError:
        raise _Refused(4400, f"no start frame within {START_TIMEOUT_SECONDS:g} s") from None
    if first.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
        return
    if first.type is not WSMsgType.TEXT:
        raise _Refused(
            4400, 'the first frame must be text: {"type": "start", "apiKey": "...", "sampleRate": 16000}'
        )
    try:
        start = parse_start(first.data)
    except ProtocolError as exc:
        raise _Refused(exc.code, exc.message) from None
    account = _account(ctx.state, ctx.request, start.api_key, start.sub_account_id)
    session = _session(ctx, account, call_id)
    current = session.current  # what the agent is saying as the page connects (the greeting)

    pool = recognizers(*_speech)
    try:
        recognizer = await asyncio.to_thread(pool.take)  # a model load the first time: seconds
    except ProtocolError as exc:
        raise _Refused(exc.code, exc.message) from None
    except SttError as exc:
        raise _Refused(4500, f"speech recognition is not available here: {exc}") from None
    try:
        synthesizer = await asyncio.to_thread(shared_synthesizer)
    except TtsError as exc:
        pool.give_back(recognizer)
        raise _Refused(4500, f"speech synthesis is not available here: {exc}") from None

    port = _EnginePort(session, ctx.state)
    bridge = BrowserCall(port, ws, synthesizer)
    ears = Ears(
        start.sample_rate,
        recognizer,
        bridge.post_from_thread(),
        give_back=pool.give_back,
        end_silence_ms=_end_silence_ms,
    )
    relay = _relay(session)
    replaced = asyncio.Event()
    if relay.replaced is not None:
        relay.replaced()  # the connection that had this call's audio lets go
    relay.target, relay.replaced = bridge, replaced.set
    ears.start()
    bridge.start()
    try:
        bridge.send({"type": "ready"})
        if current is not None:  # heard from its start, the chunks in so far (the rest as they come)
            for heard in current.chunks:
                bridge.chunk(current.turn, heard.chunk.text, heard.chunk.interim)
        receiving = asyncio.ensure_future(_receive(ws, ears, bridge, start.sample_rate))
        ending = asyncio.ensure_future(_watch_end(ctx, account, session))
        others = [asyncio.ensure_future(e.wait()) for e in (replaced, bridge.failure)]
        done, _ = await asyncio.wait([receiving, ending, *others], return_when=asyncio.FIRST_COMPLETED)
        for task in (receiving, ending, *others):
            task.cancel()
        if receiving in done and not receiving.cancelled() and receiving.exception() is not None:
            raise receiving.exception()  # type: ignore[misc]  # a _Refused: a bad frame
        if ending in done:
            ended = ending.result()
            if ended is None:
                raise _Refused(1001, "the emulator is stopping")
            await bridge.drain(DRAIN_SECONDS)  # the agent's last words, synthesised and written
            bridge.send(ended)  # then "ended", through the same writer (never beside it)
            await bridge.drain(DRAIN_SECONDS)
            with contextlib.suppress(ConnectionError):  # the page went at that moment: nobody to tell
                await ws.close(code=1000, message=b"call ended")
        elif replaced.is_set():
            raise _Refused(4409, "another connection took this call's audio")
        elif bridge.failed is not None:
            raise _Refused(4500, bridge.failed)
    finally:
        if relay.target is bridge:
            relay.target = relay.replaced = None
        ears.stop()
        await bridge.stop()


async def _receive(ws: web.WebSocketResponse, ears: Ears, bridge: BrowserCall, rate: int) -> None:
    """Read the client's frames until it closes: audio to the ears (waiting while they are full,
    so a fast client is held back by TCP), ``hangup`` to the call, ``bargeIn`` to the bridge."""
    from ..speech.bridge_call import CallOver
    from ..speech.bridge_frames import ProtocolError, check_audio_frame, parse_control

    while True:
        message = await ws.receive()
        if message.type is WSMsgType.BINARY:
            try:
                check_audio_frame(len(message.data), rate)
            except ProtocolError as exc:
                raise _Refused(exc.code, exc.message) from None
            await ears.feed(message.data)
        elif message.type is WSMsgType.TEXT:
            try:
                kind = parse_control(message.data)
            except ProtocolError as exc:
                bridge.send({"type": "error", "message": exc.message})  # through its one writer
                continue
            if kind == "bargeIn":  # in line with the audio: after what the caller said before it
                await bridge.interrupt()
                continue
            with contextlib.suppress(CallOver):
                await bridge.port.hangup()
        elif message.type is WSMsgType.ERROR:  # e.g. a frame past aiohttp's cap: it closed with 1009
            log.debug("browser audio: %s", ws.exception())
            return
        else:  # CLOSE, CLOSING, CLOSED: the client went; the call goes on
            return
