"""The voice engine: starts a :class:`CallSession` for every call that connects, and does what the
platform does when a call ends (``agent.call_ended``, the recording).

- Inbound: :meth:`VoiceEngine.ring` is a simulated caller dialling one of the account's numbers.
- Outbound: ``POST /v1/calls`` hands the call to :meth:`VoiceEngine.place`; the callee at the
  dialled number (:mod:`.callees`) answers, is busy, lets it ring out, or is a voicemail or a menu.
- Web: ``POST /v1/calls/web`` mints a token; :meth:`VoiceEngine.join_web` is the browser joining
  with it. A token nobody redeems in its 30 s ends the call (``registered_call_timeout``).

Who answers is fixed when the call starts: the built-in responder for hosted agents and for calls
placed with a ``systemPrompt`` (:mod:`.hosted`), the webhook otherwise.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

import aiohttp

from ..clock import Clock
from ..errors import not_found, validation_error
from ..phone import InvalidPhoneNumber, normalize_e164
from ..store import calls as call_store
from ..store.account import Account, EmulatorState
from ..store.live import publish
from ..store.records import CallRecord
from .call_session import CallSession
from .callees import Callee, callee_for, run_callee
from .delivery import Dispatcher
from .driving import ClockDriver
from .events import call_ended_event
from .hosted import HostedConfig, Responder
from .recording import RecordingVoices, Utterance, render_recording
from .sms import find_number
from .speech import speech_seconds
from .targets import Targets

log = logging.getLogger("agentphone_emulator.voice")

DEFAULT_CALLER = "+14155550123"
ENDED_SESSIONS_KEPT = 100  # ended calls whose replies can still be read back (control plane, mic mode)
"""Who rings when a test does not say: a fictional San Francisco number."""


class VoiceEngine:
    def __init__(
        self,
        state: EmulatorState,
        clock: Clock,
        dispatcher: Dispatcher,
        targets: Targets,
        driver: ClockDriver,
        http: Callable[[], aiohttp.ClientSession],
    ) -> None:
        self.state = state
        self.clock = clock
        self.dispatcher = dispatcher
        self.targets = targets
        self.driver = driver
        self.http = http
        self.hosted = HostedConfig()
        self.callees: dict[str, Callee] = {}  # scripted callees by E.164 number
        self.sessions: dict[str, CallSession] = {}  # live calls by id
        # Outbound calls ringing in the console, by id: the person's choice (callees.CONSOLE_CHOICES).
        self.ringing: dict[str, asyncio.Future[str]] = {}
        # Calls that just ended, newest last: a caller reads how its call went (the reply that
        # hung up, its timing) after the engine has let go of it.
        self.ended_sessions: OrderedDict[str, CallSession] = OrderedDict()
        # Who speaks recordings (the server sets speech/recording_voices.py's Piper voices); None:
        # the shared espeak-ng synthesiser, else tones.
        self.recording_voices: RecordingVoices | None = None
        self._generation = 0
        call_store.on_call_ended(state, self._call_ended)

    # -- starting calls ---------------------------------------------------------------------------

    def _open(self, account: Account, call: CallRecord) -> CallSession:
        agent = account.agents.get(call.agent_id) if call.agent_id else None
        responder: Responder | None = None
        if call.system_prompt or (agent is not None and agent.voice_mode == "hosted"):
            responder = self.hosted.responder_for(call.agent_id, self.http)
        session = CallSession(self, account, call, agent, responder)
        self.sessions[call.id] = session
        session.limit_length()
        return session

    async def ring(
        self, *, to: str, from_: str = DEFAULT_CALLER, account: Account | None = None
    ) -> CallSession:
        """A caller at ``from_`` dials our number ``to`` (one of ``account``'s, if given); the
        agent's greeting starts playing."""
        account, number = find_number(self.state, to, only=account)
        try:
            caller = normalize_e164(from_)
        except InvalidPhoneNumber as exc:
            raise validation_error(["body", "from"], str(exc), from_) from None
        call = call_store.start_inbound_call(self.state, account, number, caller)
        session = self._open(account, call)
        if session.agent is None:  # a number with no agent: nobody picks up
            session.end("failed", "no_agent")
            return session
        await session.greet(session.agent.begin_message)
        return session

    def place(self, account: Account, call: CallRecord) -> CallSession:
        """An outbound call was created: dial the callee and let it play out on the clock."""
        session = self._open(account, call)
        agent = session.agent
        greeting = call.initial_greeting or (agent.begin_message if agent else None)
        callee = callee_for(call.to_number, self.callees)
        session.spawn(run_callee(session, callee, greeting))
        return session

    def web_call_created(self, account: Account, call: CallRecord) -> None:
        """A web call's token was minted: unjoined when it expires, the call ends."""
        expires = call.web_token_expires_at
        if expires is None:
            return
        generation, account_id, call_id = self._generation, account.id, call.id

        async def expire() -> None:
            owner = self.state.accounts.get(account_id)
            record = owner.calls.get(call_id) if owner else None
            if generation != self._generation or owner is None or record is None:
                return
            if record.web_token_redeemed_at is None and call_store.is_live(record):
                call_store.finish_call(self.state, owner, record, "failed", "registered_call_timeout")

        self.clock.call_at(expires, expire)

    async def join_web(self, token: str) -> CallSession:
        """The browser joins a web call with its access token; the greeting starts playing."""
        account, call = call_store.redeem_web_token(self.state, token)
        session = self._open(account, call)
        await session.greet(session.agent.begin_message if session.agent else None)
        return session

    def known_session(self, call_id: str) -> CallSession | None:
        """The call's session while it is live, or for a while after it ended (the last
        :data:`ENDED_SESSIONS_KEPT` calls): what the caller experienced, to read back."""
        return self.sessions.get(call_id) or self.ended_sessions.get(call_id)

    def session(self, call_id: str) -> CallSession:
        session = self.sessions.get(call_id)
        if session is None:
            raise not_found(f"Live call {call_id}")
        return session

    # -- ending ------------------------------------------------------------------------------------

    def _call_ended(self, state: EmulatorState, account: Account, call: CallRecord) -> None:
        state.touch()  # a live call is a change until it ends (Platform.busy); its end is one too
        session = self.sessions.pop(call.id, None)
        if session is not None:
            session.close()
            self.ended_sessions[call.id] = session
            while len(self.ended_sessions) > ENDED_SESSIONS_KEPT:
                self.ended_sessions.popitem(last=False)
        if call.agent_id is not None:
            self.dispatcher.fire(
                self.dispatcher.deliver(
                    account,
                    "agent.call_ended",
                    call_ended_event(state, account, call),
                    agent_id=call.agent_id,
                    call_id=call.id,
                )
            )
        if call_store.should_record(state, account, call):
            self.dispatcher.fire(self._record(account, call, session))

    async def _record(self, account: Account, call: CallRecord, session: CallSession | None) -> None:
        ended = call.ended_at or self.clock.now()
        duration = (ended - call.started_at).total_seconds()
        call.recording = await render_recording(
            _utterances(call, session), duration, voices=self.recording_voices
        )
        publish(self.state, account, "call", call)  # its recording is there now (the console's player)

    # -- lifecycle -----------------------------------------------------------------------------------

    def drop_sessions(self) -> None:
        """Stop driving every live call (``restore()`` replaced the records they talk to)."""
        self._generation += 1
        for session in list(self.sessions.values()):
            session.close()
        self.sessions.clear()
        self.ended_sessions.clear()

    def reset(self) -> None:
        """Forget calls, scripted callees and scripted hosted replies (a seeded emulator reuses
        agent ids, so one test's replies must not answer the next test's agent); the LLM endpoint
        is the server's configuration and stays."""
        self.drop_sessions()
        self.callees.clear()
        self.hosted.scripted.clear()

    async def stop(self) -> None:
        sessions = list(self.sessions.values())
        self.reset()
        for session in sessions:
            await session.wait_closed()


def _utterances(call: CallRecord, session: CallSession | None) -> list[Utterance]:
    """Who spoke when, in seconds from the call's start (timed by the session when there was one,
    else estimated back from each transcript line's time)."""

    def offset(moment: datetime) -> float:
        return max(0.0, (moment - call.started_at).total_seconds())

    if session is not None:
        return [
            Utterance(
                role, text, offset(start), offset(end), session.caller_voice if role == "user" else None
            )
            for role, text, start, end in session.spoken
        ]
    result = []
    for turn in call.turns:
        end = offset(turn.created_at)
        result.append(Utterance(turn.role, turn.content, max(0.0, end - speech_seconds(turn.content)), end))
    return result
