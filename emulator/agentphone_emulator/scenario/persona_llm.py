"""A persona's language model: the caller's lines and the judge's verdict, asked of the
OpenAI-compatible chat endpoint ``run --llm-url`` names (hosted mode's client, engine/hosted.py),
and recorded so every later run replays them without the model.

The recording is a JSON file (``persona.llm.recording``, beside the scenario) of answers keyed by a
digest of the exact messages sent: the same conversation gets the same answer, so a run replays
exactly, offline, for free. A conversation the file has no answer for (the agent now says
something else) is asked of the model when ``--llm-url`` is given, and added; without it the
scenario stops with an error saying so, never with a made-up answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from ..agent_env import LLM_KEY_ENV
from ..engine.hosted import (
    DEFAULT_MODEL,
    ChatCompletionsResponder,
    HostedError,
    HostedTurn,
    ReplyObject,
    without_credentials,
)
from .persona_models import Persona

TAPE_VERSION = 1
REPLAY_ONLY = "http://127.0.0.1:9/replay-only"  # never asked: a tape without an endpoint only replays
MAX_TAPE_BYTES = 16 * 2**20

CALLER_PROMPT = """You are playing a person phoning a company's voice agent, to test the agent. Stay in character.
Your goal: {goal}
What you know (say it when you are asked for it):
{facts}{manner}
Reply with only the words you say next: one or two short sentences, no stage directions.
When your goal is reached, or you give up, say goodbye and add [hangup]."""

JUDGE_PROMPT = (
    "You judge a phone call between a caller and a company's voice agent. Answer the question about "
    "the call with PASS or FAIL as your first word, then one sentence saying why."
)
NO_GREETING = "(The call connects. The agent says nothing yet.)"
_VERDICT = re.compile(r"\W*([A-Za-z]+)")


class LlmError(Exception):
    """The model cannot be asked or replayed; the message is one line."""


@dataclass(frozen=True, slots=True)
class LlmEndpoint:
    """``run --llm-url URL --llm-model NAME``; the key is read from ``$AGENTPHONE_EMULATOR_LLM_KEY``."""

    url: str
    model: str = DEFAULT_MODEL


class Tape:
    """One recording file: answers by the digest of their messages; asks ``endpoint`` for the rest."""

    def __init__(self, path: Path, endpoint: LlmEndpoint | None) -> None:
        self.path = path
        self.endpoint = endpoint
        self._factory: Callable[[], aiohttp.ClientSession] | None = None
        # Built without an endpoint too: its messages() are the recording's keys as well as the request.
        self.responder = ChatCompletionsResponder(
            self._session,
            endpoint.url if endpoint is not None else REPLAY_ONLY,
            api_key=os.environ.get(LLM_KEY_ENV) or None,
            model=endpoint.model if endpoint is not None else DEFAULT_MODEL,
        )
        self.answers: dict[str, dict[str, Any]] = self._load()
        self.changed = False
        self.asked = 0  # answers the model gave in this run (not replayed)

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            if self.path.stat().st_size > MAX_TAPE_BYTES:
                raise LlmError(f"{self.path}: too large for a recording (more than 16 MiB)")
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise LlmError(f"{self.path}: not a recording this version can read ({exc})") from None
        answers = (
            data.get("answers") if isinstance(data, dict) and data.get("version") == TAPE_VERSION else None
        )
        if not isinstance(answers, dict):
            raise LlmError(
                f"{self.path}: not a recording this version can read (version {TAPE_VERSION} expected)"
            )
        return {key: value for key, value in answers.items() if isinstance(value, dict)}

    def bind(self, factory: Callable[[], aiohttp.ClientSession]) -> None:
        """The HTTP session the model is asked through (made on the run's loop, by the caller)."""
        self._factory = factory

    def _session(self) -> aiohttp.ClientSession:
        if self._factory is None:
            raise LlmError("no HTTP session to ask the model through")
        return self._factory()

    async def ask(self, turn: HostedTurn, purpose: str) -> ReplyObject:
        """The model's reply object to ``turn``: replayed, else asked and recorded."""
        messages = self.responder.messages(turn)
        key = digest(messages)
        recorded = self.answers.get(key)
        if recorded is not None and isinstance(recorded.get("answer"), dict):
            return dict(recorded["answer"])
        if self.endpoint is None:
            raise LlmError(
                f"{self.path} has no recorded answer for this {purpose} (the conversation differs from the "
                "recorded one) and no --llm-url was given to ask a model: run once with --llm-url to record it"
            )
        try:
            answer = await self.responder.reply(turn)
        except HostedError as exc:
            raise LlmError(str(exc).replace("hosted LLM", "the persona's LLM", 1)) from None
        self.answers[key] = {
            "purpose": purpose,
            "model": self.endpoint.model,
            "url": without_credentials(self.endpoint.url),
            "messages": messages,
            "answer": answer,
        }
        self.changed = True
        self.asked += 1
        return dict(answer)

    def save(self) -> None:
        if not self.changed:
            return
        from .report_files import write_atomic

        text = json.dumps({"version": TAPE_VERSION, "answers": self.answers}, indent=2, ensure_ascii=False)
        write_atomic(self.path, text + "\n")
        self.changed = False


def digest(messages: Sequence[Mapping[str, str]]) -> str:
    canonical = json.dumps(list(messages), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", errors="surrogatepass")).hexdigest()


def caller_prompt(persona: Persona) -> str:
    facts = (
        "\n".join(f"- {name}: {value}" for name, value in persona.facts.items()) or "- nothing in particular"
    )
    manner = []
    behaviour = persona.behaviour
    if behaviour.terse:
        manner.append("You answer in as few words as possible.")
    if behaviour.impatient is not None:
        manner.append("You are impatient and in a hurry.")
    if behaviour.confused is not None:
        manner.append("You are easily confused and sometimes ask the agent to say things again.")
    return CALLER_PROMPT.format(
        goal=persona.goal, facts=facts, manner="\n" + " ".join(manner) if manner else ""
    )


def caller_turn(persona: Persona, lines: Sequence[tuple[str, str]], call_id: str) -> HostedTurn:
    """The caller model's view: the agent's words are the "user", its own lines the "assistant"."""
    transcript = [("user" if role == "agent" else "agent", text) for role, text in lines]
    if not transcript or transcript[0][0] != "user":
        transcript.insert(0, ("user", NO_GREETING))
    return HostedTurn(
        system_prompt=caller_prompt(persona), transcript=transcript, call_id=call_id, agent_id=None
    )


def judge_turn(persona: Persona, question: str, transcript: str, call_id: str) -> HostedTurn:
    ask = f"The caller's goal: {persona.goal}\nQuestion: {question}\n\nTranscript:\n{transcript or '(nothing was said)'}"
    return HostedTurn(system_prompt=JUDGE_PROMPT, transcript=[("user", ask)], call_id=call_id, agent_id=None)


def verdict(answer: ReplyObject) -> tuple[bool | None, str]:
    """(True for PASS / yes, False for FAIL / no, None for neither), and the answer's text."""
    text = str(answer.get("text") or "").strip()
    match = _VERDICT.match(text)
    word = match.group(1).upper() if match else ""
    return {"PASS": True, "YES": True, "FAIL": False, "NO": False}.get(word), text
