"""Playing one caller plan on an emulator: a fresh state, the spec's setup, one inbound call whose
turns go through the scenario runner's own ``CallRunner.turn`` (what ``run`` does with a scenario's
turns), and what happened, gathered into a :class:`Conversation` for the invariants.

The emulator is reused across examples and reset before each (microseconds on a virtual clock); the
setup goes through the REST API, as a scenario's does, so the written scenario meets the same agent.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from ..call_handle import CallHandle
from ..engine.agent_reply import AgentReply, HeardChunk
from ..engine.call_protocols import CallEnded
from ..engine.reply_fields import ReplyChunk
from ..scenario.call_steps import CallRunner, cuts
from ..scenario.loader import LoadedScenario
from ..scenario.models import InboundCall, InboundCallStep, Scenario
from ..scenario.results import TranscriptLine
from ..scenario.run_context import Api
from ..scenario.runner import ScenarioRun
from ..server import Emulator
from ..settings import AccountSettings
from ..store.findings import Finding
from ..store.records import CallRecord
from .plan import Action, Hangup, Plan
from .spec import ExploreSpec


@dataclass(slots=True)
class Exchange:
    """One caller action and what the agent did about it."""

    index: int
    """The action's place in the plan, from 1 (the scenario's turn number)."""
    action: Action
    reply: AgentReply | None
    """The agent's reply (None for a silence, a text or a hang-up)."""
    sent: list[ReplyChunk] = field(default_factory=list)
    """Every chunk the agent sent for the reply, heard or not (chunks after a hang-up are dropped
    from ``reply.chunks`` but kept here)."""


@dataclass(slots=True)
class Conversation:
    """One explored call: the plan as far as it was played, each exchange, the call and findings."""

    plan: Plan
    """The actions actually played (a call the agent ended drops the actions after it)."""
    greeting: AgentReply | None
    exchanges: list[Exchange]
    call: CallRecord
    findings: list[Finding]
    transcript: list[TranscriptLine] = field(default_factory=list)

    @property
    def replies(self) -> list[Exchange]:
        """The exchanges the agent replied to (say, interrupt, press), in order."""
        return [e for e in self.exchanges if e.reply is not None]

    def lines(self) -> list[str]:
        """``user: ...`` / ``agent: ...``, one per utterance, as ``agent.call_ended`` carries them."""
        return [f"{turn.role}: {turn.content}" for turn in self.call.turns]


class Player:
    """Plays plans on ``emulator`` (started, virtual clock) against ``target``; call :meth:`open`
    then :meth:`play` on the emulator's loop."""

    def __init__(
        self,
        emulator: Emulator,
        spec: ExploreSpec,
        *,
        target: str,
        secret: str,
        settings: AccountSettings | None = None,
        file: str = "<explore>",
    ) -> None:
        self.emulator = emulator
        self.spec = spec
        self.target = target
        self.secret = secret
        self.settings = settings or AccountSettings()
        scenario = Scenario(
            name=spec.name,
            setup=spec.setup,
            call=InboundCall.model_validate({"to": spec.call.to, "from": spec.call.from_}),
        )
        self.skeleton = LoadedScenario(scenario, file, 1, 0, {})
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        headers = {"Authorization": f"Bearer {self.emulator.api_key}"}
        self._session = aiohttp.ClientSession(headers=headers)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def play(self, plan: Plan, *, transcript: bool = False) -> Conversation:
        """Play ``plan`` on a fresh state; ``transcript``: also build the report's transcript lines."""
        assert self._session is not None, "Player.open() first"
        run = ScenarioRun(
            self.emulator,
            Api(self._session, self.emulator.base_url),
            self.skeleton,
            target=self.target,
            secret=self.secret,
            settings=self.settings,
            variables={},
        )
        await run.setup()
        to = run.number(("call", "to"), self.spec.call.to)
        sender = run.number(("call", "from"), self.spec.call.from_)
        handle = await self.emulator.aring(to=to, from_=sender)
        sent: dict[int, list[ReplyChunk]] = defaultdict(list)

        def heard(reply: AgentReply, chunk: HeardChunk) -> None:
            sent[id(reply)].append(chunk.chunk)

        handle.session.on_chunk(heard)
        calls = CallRunner(run)
        turns = [action.turn() for action in plan.actions]
        played: list[Action] = []
        exchanges: list[Exchange] = []
        for index, (action, turn) in enumerate(zip(plan.actions, turns, strict=True)):
            upcoming: Any = turns[index + 1] if index + 1 < len(turns) else None
            try:
                reply = await calls.turn(("turns", index), turn, handle, cut_next=cuts(upcoming))
            except CallEnded:
                break  # the agent (or the platform) ended the call: the rest of the plan never happens
            played.append(action)
            exchanges.append(Exchange(index + 1, action, reply))
            if isinstance(action, Hangup):
                break
        await calls.finish(InboundCallStep(call=self.skeleton.scenario.call, end="hangup"), handle, "expect")
        await self.emulator.asettle()
        for exchange in exchanges:
            if exchange.reply is not None:
                exchange.sent = sent.get(id(exchange.reply), [])
        conversation = Conversation(
            plan=Plan(tuple(played)),
            greeting=handle.greeting,
            exchanges=exchanges,
            call=handle.record,
            findings=list(self.emulator.account().findings),
        )
        if transcript:
            conversation.transcript = _transcript(calls, run, handle)
        return conversation


def _transcript(calls: CallRunner, run: ScenarioRun, handle: CallHandle) -> list[TranscriptLine]:
    calls.log_replies(handle, speaker_label="caller")
    return sorted(run.transcript, key=lambda line: line.at_s)
