"""What the step runners share while one scenario runs: its state (the emulator and its API, the
names setup made, the values, the checks, the transcript), the lookups of names and texts every
step uses, and the error that stops a scenario.

The runner (runner.py) builds on it with the setup, the timeline and the final checks; the steps
(call_steps.py, text_steps.py, persona.py) see only this, so none of them imports the runner back.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any

import aiohttp

from ..errors import error_detail, one_line
from ..server import Emulator
from ..settings import AccountSettings
from ..store.records import MessageRecord
from .checker import Checker
from .loader import LoadedScenario
from .models import Scenario
from .persona_llm import LlmEndpoint
from .results import Path, TranscriptLine, format_path
from .variables import UnknownVariable, substitute


class ScenarioError(Exception):
    """The scenario cannot go on (the API refused its setup, a name it uses does not exist)."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{format_path(path)}: {message}" if path else message)
        self.path = path


class Api:
    """The emulator's REST API over real HTTP, as the user's own code would call it."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url

    async def call(self, path: Path, method: str, route: str, body: Any = None) -> Any:
        async with self.session.request(method, self.base_url + route, json=body) as response:
            raw = await response.read()
            if response.status >= 400:
                detail = error_detail(raw) or one_line(raw.decode(errors="replace"))
                raise ScenarioError(path, f"{method} {route} answered {response.status}: {detail}")
            return json.loads(raw)


class RunContext:
    """The state of one scenario while it runs, and the lookups its steps share."""

    def __init__(
        self,
        emulator: Emulator,
        api: Api,
        loaded: LoadedScenario,
        *,
        target: str,
        secret: str,
        settings: AccountSettings,
        variables: Mapping[str, str],
        llm: LlmEndpoint | None = None,
    ) -> None:
        self.emulator = emulator
        self.llm = llm  # a persona's model (run --llm-url); None: its recordings only
        self.api = api
        self.loaded = loaded
        self.scenario: Scenario = loaded.scenario
        self.target = target
        self.secret = secret
        self.settings = settings
        self.cli_variables = variables
        self.values: dict[str, str] = {}
        self.numbers: dict[str, tuple[str, str]] = {}  # name -> (id, E.164)
        self.agents: dict[str, str] = {}  # name -> id
        self.sent_by_scenario: set[str] = set()  # texts the scenario sent as the account (send_text)
        self.transcript: list[TranscriptLine] = []
        self.calls: dict[Path, str] = {}  # a call step's path -> its call's id (for goldens)
        self.checker = Checker(loaded.line_of, self.values)
        self.started = emulator.clock.now()

    # -- names ---------------------------------------------------------------------------------------

    def at_s(self) -> float:
        return (self.emulator.clock.now() - self.started).total_seconds()

    def sub(self, path: Path, text: str) -> str:
        try:
            return substitute(text, self.values)
        except UnknownVariable as exc:
            raise ScenarioError(path, str(exc)) from None

    def number(self, path: Path, ref: str) -> str:
        """A number reference: a name from setup.numbers, or a phone number as written."""
        ref = self.sub(path, ref)
        if ref in self.numbers:
            return self.numbers[ref][1]
        if ref.startswith("+") or ref.replace("-", "").isdigit():
            return ref
        raise ScenarioError(path, _unknown("number", ref, self.numbers))

    def number_id(self, path: Path, ref: str) -> str:
        ref = self.sub(path, ref)
        if ref in self.numbers:
            return self.numbers[ref][0]
        for number_id, phone in self.numbers.values():
            if phone == ref:
                return number_id
        raise ScenarioError(path, _unknown("number", ref, self.numbers))

    def agent_id(self, path: Path, ref: str) -> str:
        ref = self.sub(path, ref)
        if ref in self.agents:
            return self.agents[ref]
        if ref.startswith("agt_") or ref in self.agents.values():
            return ref
        raise ScenarioError(path, _unknown("agent", ref, self.agents))

    @property
    def account(self) -> Any:
        return self.emulator.account()

    # -- texts -------------------------------------------------------------------------------------------

    def outbound_texts(self, to: str | None = None) -> list[MessageRecord]:
        """Texts the agent's account sent (not the ones this scenario sent as it), oldest first."""
        return [
            m
            for m in self.account.messages.values()
            if m.direction == "outbound"
            and m.id not in self.sent_by_scenario
            and (to is None or m.to_number == to)
        ]


def transcript_text(call: Any) -> str:
    return "\n".join(f"{turn.role}: {turn.content}" for turn in call.turns)


def _unknown(kind: str, ref: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(ref, list(known), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    names = ", ".join(known) or f"none: add one to setup.{kind}s"
    return f"unknown {kind} '{ref}'{hint}; known: {names}"
