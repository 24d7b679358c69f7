"""The Emulator's simulated people: a texter (``send_sms``, ``react``), a caller (``ring``,
``join_web_call``, ``call``, ``play_out``), and who answers the agent's own calls
(``script_callee``) or speaks for a hosted agent (``configure_hosted``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..call_handle import CallHandle
from ..engine.callees import Callee
from ..engine.sms import Reacted, Received
from ..engine.voice import DEFAULT_CALLER
from ..phone import normalize_e164
from ..store.records import CallRecord
from .loop import EmulatorLoop


class SimulatedPeople(EmulatorLoop):
    """The Emulator's methods that act as the people on the other end; ``server.Emulator``
    inherits them."""

    async def asend_sms(
        self, *, from_: str, to: str, body: str = "", media_urls: Sequence[str] = ()
    ) -> Received:
        """A text from ``from_`` arrives at our number ``to``: stored, and sent to the webhook as
        ``agent.message``.

        Args:
            from_: The texter, E.164.
            to: One of the account's numbers.
            body: The text.
            media_urls: Attachments' URLs (makes it an MMS).

        Returns:
            The stored message and its delivery after the first attempt (retries follow the clock).

        Raises:
            ApiError: ``to`` is no number of the emulator's, or a field is invalid.
        """
        return await self.on_own_loop(
            lambda: self.platform.sms.receive(to=to, from_=from_, body=body, media_urls=media_urls)
        )

    def send_sms(self, *, from_: str, to: str, body: str = "", media_urls: Sequence[str] = ()) -> Received:
        """``asend_sms``, blocking: a text from ``from_`` arrives at our number ``to``.

        Args:
            from_: The texter, E.164.
            to: One of the account's numbers.
            body: The text.
            media_urls: Attachments' URLs (makes it an MMS).

        Returns:
            The stored message and its delivery after the first attempt.
        """
        return self.run_coroutine(
            lambda: self.asend_sms(from_=from_, to=to, body=body, media_urls=media_urls), name="send_sms"
        )

    async def areact(self, message_id: str, reaction: str, *, from_: str | None = None) -> Reacted:
        """A participant reacts to an iMessage; ``agent.reaction`` is sent.

        Args:
            message_id: The message reacted to (an iMessage).
            reaction: ``love``, ``like``, ``dislike``, ``laugh``, ``emphasize``, ``question``, or
                one emoji.
            from_: Who reacts (default: the conversation's participant).

        Returns:
            The stored reaction and its delivery after the first attempt.

        Raises:
            ApiError: No such message, not an iMessage, or no such reaction.
        """
        return await self.on_own_loop(
            lambda: self.platform.sms.react(message_id=message_id, reaction=reaction, from_=from_)
        )

    def react(self, message_id: str, reaction: str, *, from_: str | None = None) -> Reacted:
        """``areact``, blocking: a participant reacts to an iMessage.

        Args:
            message_id: The message reacted to (an iMessage).
            reaction: A tapback name or one emoji.
            from_: Who reacts (default: the conversation's participant).

        Returns:
            The stored reaction and its delivery after the first attempt.
        """
        return self.run_coroutine(lambda: self.areact(message_id, reaction, from_=from_), name="react")

    # -- calls ------------------------------------------------------------------------------------------

    async def aring(self, *, to: str, from_: str = DEFAULT_CALLER) -> CallHandle:
        """A caller at ``from_`` dials our number ``to``, and the agent answers.

        Args:
            to: One of the account's numbers, with an agent.
            from_: The caller's number, E.164.

        Returns:
            The call, at once, the agent's greeting playing; its ``asay`` / ``ainterrupt`` /
                ``apress`` / ``ahangup`` are the caller.

        Raises:
            ApiError: ``to`` is no number of the emulator's.
        """
        return CallHandle(self, await self.on_own_loop(lambda: self.platform.voice.ring(to=to, from_=from_)))

    def ring(self, *, to: str, from_: str = DEFAULT_CALLER) -> CallHandle:
        """``aring``, blocking: a caller at ``from_`` dials our number ``to``.

        Args:
            to: One of the account's numbers, with an agent.
            from_: The caller's number, E.164.

        Returns:
            The call, the agent's greeting playing; its ``say`` / ``interrupt`` / ``press`` /
                ``hangup`` are the caller.
        """
        return self.run_coroutine(lambda: self.aring(to=to, from_=from_), name="ring")

    async def ajoin_web_call(self, access_token: str) -> CallHandle:
        """Join a web call with the ``accessToken`` of ``POST /v1/calls/web``, as the browser would.

        Args:
            access_token: The token ``POST /v1/calls/web`` returned.

        Returns:
            The call, the agent's greeting playing; the handle is the browser's user.

        Raises:
            ApiError: The token is unknown, expired or already used.
        """
        return CallHandle(self, await self.on_own_loop(lambda: self.platform.voice.join_web(access_token)))

    def join_web_call(self, access_token: str) -> CallHandle:
        """``ajoin_web_call``, blocking: join a web call as the browser would.

        Args:
            access_token: The token ``POST /v1/calls/web`` returned.

        Returns:
            The call, the agent's greeting playing.
        """
        return self.run_coroutine(lambda: self.ajoin_web_call(access_token), name="join_web_call")

    def call(self, call_id: str) -> CallHandle:
        """A handle on a live call (one placed through the API, say) to act as its other party.

        Args:
            call_id: The call's id.

        Returns:
            The call.

        Raises:
            ApiError: No live call has that id (404).
        """
        return CallHandle(self, self.call_soon(lambda: self.platform.voice.session(call_id)))

    async def aplay_out(self, call_id: str, limit: float = 3600) -> CallRecord:
        """Let a call run to its end (an outbound call's callee hangs up, busy, no answer ...).

        Args:
            call_id: The call's id.
            limit: The most seconds of call time to wait.

        Returns:
            The call as it ended (or as it is, at ``limit``).

        Raises:
            KeyError: No call has that id.
        """

        async def play_out() -> CallRecord:
            session = self.platform.voice.sessions.get(call_id)
            if session is not None:
                await self.platform.driver.until(session.wait_ended(limit))
            for account in self.state.accounts.values():
                if call_id in account.calls:
                    return account.calls[call_id]
            raise KeyError(f"no call {call_id!r}")

        return await self.on_own_loop(play_out)

    def play_out(self, call_id: str, limit: float = 3600) -> CallRecord:
        """``aplay_out``, blocking: let a call run to its end.

        Args:
            call_id: The call's id.
            limit: The most seconds of call time to wait.

        Returns:
            The call as it ended (or as it is, at ``limit``).
        """
        return self.run_coroutine(lambda: self.aplay_out(call_id, limit), name="play_out")

    def script_callee(self, number: str, callee: Callee) -> None:
        """Who answers outbound calls to ``number`` (instead of its magic-number behaviour).

        Args:
            number: The number dialled, in any form that normalises to E.164.
            callee: What happens there: its outcome (answered, busy ...) and the lines it says
                (``agentphone_emulator.engine.callees.Callee``).
        """
        self.call_soon(lambda: self.platform.voice.callees.__setitem__(normalize_e164(number), callee))

    def configure_hosted(
        self,
        *,
        llm_url: str | None = None,
        llm_model: str | None = None,
        replies: dict[str, list[str | dict[str, Any]]] | None = None,
    ) -> None:
        """How hosted-mode calls answer: scripted ``replies`` per agent id, else the
        OpenAI-compatible chat endpoint at ``llm_url``, else a plain line saying no model is
        configured.

        Args:
            llm_url: An OpenAI-compatible chat endpoint (key from ``$AGENTPHONE_EMULATOR_LLM_KEY``).
            llm_model: The model name to ask it for.
            replies: Per agent id, what it answers, one reply per caller turn (a text, or a reply
                object such as ``{"text": "Bye", "hangup": True}``).
        """

        if replies is not None:
            _check_json(replies)

        def do_configure() -> None:
            hosted = self.platform.voice.hosted
            if llm_url is not None:
                hosted.llm_url = llm_url
            if llm_model is not None:
                hosted.llm_model = llm_model
            if replies is not None:
                hosted.scripted.update({agent: list(lines) for agent, lines in replies.items()})

        self.call_soon(do_configure)


def _check_json(replies: dict[str, list[str | dict[str, Any]]]) -> None:
    """Refuse, on the caller's line, scripted replies the engine could not read as a JSON body
    (a ``date``, a set ...): accepted, they failed each turn with a traceback in the log."""
    for agent, lines in replies.items():
        for index, line in enumerate(lines):
            try:
                json.dumps(line, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise TypeError(
                    f"configure_hosted(replies={{{agent!r}: [...]}}): reply {index}: {exc}"
                ) from None
