"""Hosted voice mode: the platform's built-in LLM answering the caller, as the emulator plays it.

A hosted-mode agent (or an outbound call placed with a ``systemPrompt``) has no webhook; the
platform's own model writes each reply. The emulator has no model of its own, so it answers, in this
order of preference:

1. replies scripted in advance for the agent (deterministic tests),
2. an OpenAI-compatible ``/chat/completions`` endpoint (Ollama, llama.cpp, vLLM, OpenAI ...) given
   with ``--llm-url``, its key read from ``$AGENTPHONE_EMULATOR_LLM_KEY``,
3. a plain sentence saying no model is configured, so a caller hears why nothing sensible happens.

Every responder answers with the same object a webhook reply has (``text``, ``hangup``, ``action``,
``digits``), so the call engine checks and plays hosted replies exactly like webhook ones.

The chat model cannot set fields, so the emulator reads two tokens in its text: ``[hangup]`` (end the
call after speaking) and ``[transfer]`` (transfer to the agent's ``transferNumber``). A system prompt
written for the emulator may tell the model to emit them; they are removed before the text is
spoken.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
from yarl import URL

from ..agent_env import LLM_KEY_ENV
from ..safe_text import scrub

ReplyObject = dict[str, Any]
"""The shape of a webhook reply: ``{"text": ..., "hangup": bool, "action": "transfer"|"hangup",
"digits": "1"}``, every field optional."""

CLOSING_LINE = "That's everything I have for you. Thank you for calling, goodbye."
"""Said (and the call hung up) once a scripted agent has run out of replies."""

NO_MODEL_LINE = (
    "This is the AgentPhone emulator. Hosted voice mode has no language model configured, so I cannot "
    "answer. Start the emulator with --llm-url and a chat completions URL, with its key in "
    "AGENTPHONE_EMULATOR_LLM_KEY, or script this agent's replies."
)

DEFAULT_MODEL = "gpt-4o-mini"
MAX_LLM_RESPONSE_BYTES = 1 << 20  # a misbehaving endpoint must not exhaust our memory
BODY_EXCERPT_CHARS = 200  # of a failed response's body, in the error message

_CHAT_ROLES = {"user": "user", "agent": "assistant"}
_TOKEN = re.compile(r"\[(hangup|transfer)\]", re.IGNORECASE)
_VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


class HostedError(Exception):
    """The chat endpoint failed or answered something unreadable; the message is one line."""


@dataclass(frozen=True, slots=True)
class HostedTurn:
    """What the responder knows when asked for the next reply."""

    system_prompt: str | None  # already has {{variables}} filled in
    transcript: Sequence[tuple[str, str]]  # (role "user"|"agent", content), oldest first
    call_id: str
    agent_id: str | None


class Responder(Protocol):
    async def reply(self, turn: HostedTurn) -> ReplyObject: ...


class ScriptedResponder:
    """Replies given in advance (strings or reply objects), one per turn, in order. When they run
    out the agent says a polite closing line and hangs up, so a scripted call always ends."""

    def __init__(self, replies: Sequence[str | Mapping[str, Any]]) -> None:
        self._replies = [{"text": r} if isinstance(r, str) else dict(r) for r in replies]
        self._next = 0

    async def reply(self, turn: HostedTurn) -> ReplyObject:
        if self._next >= len(self._replies):
            return {"text": CLOSING_LINE, "hangup": True}
        answer = self._replies[self._next]
        self._next += 1
        return dict(answer)  # a copy: the engine may annotate what it is given


class NoModelResponder:
    """Says that hosted mode has no model, every turn (instead of silence nobody can explain)."""

    async def reply(self, turn: HostedTurn) -> ReplyObject:
        return {"text": NO_MODEL_LINE}


class ChatCompletionsResponder:
    """Asks an OpenAI-compatible chat completions endpoint for each reply."""

    def __init__(
        self,
        session_factory: Callable[[], aiohttp.ClientSession],
        base_url: str,
        *,
        api_key: str | None,
        model: str = DEFAULT_MODEL,
        timeout: float = 30.0,
    ) -> None:
        self._session = session_factory
        self.url = chat_completions_url(base_url)
        self._api_key = api_key
        self.model = model
        self.timeout = timeout

    def __repr__(self) -> str:  # never the key
        return f"ChatCompletionsResponder({without_credentials(self.url)!r}, model={self.model!r})"

    def messages(self, turn: HostedTurn) -> list[dict[str, str]]:
        """The conversation as chat messages: the prompt, then the call's turns, oldest first."""
        messages = [{"role": "system", "content": turn.system_prompt}] if turn.system_prompt else []
        for role, content in turn.transcript:
            if role not in _CHAT_ROLES:
                raise ValueError(f"transcript role must be 'user' or 'agent', not {role!r}")
            messages.append({"role": _CHAT_ROLES[role], "content": content})
        return messages

    async def reply(self, turn: HostedTurn) -> ReplyObject:
        body = {"model": self.model, "messages": self.messages(turn)}
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        where = f"hosted LLM at {without_credentials(self.url)}"
        try:
            async with self._session().post(
                self.url,
                data=json.dumps(body),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:
                status = response.status
                raw = await _read_limited(response)
        except TimeoutError:
            raise HostedError(f"{where} did not answer within {self.timeout:g} s") from None
        except aiohttp.ClientError as exc:
            raise HostedError(f"{where} could not be reached: {_describe(exc)}") from None
        text = raw.decode("utf-8", errors="replace")
        if not 200 <= status < 300:
            raise HostedError(f"{where} answered {status}: {_excerpt(text)}")
        try:
            content = json.loads(text)["choices"][0]["message"]["content"]
        except json.JSONDecodeError:
            raise HostedError(f"{where} answered invalid JSON: {_excerpt(text)}") from None
        except (KeyError, IndexError, TypeError):
            content = None
        if not isinstance(content, str):
            raise HostedError(f"{where} answered without choices[0].message.content: {_excerpt(text)}")
        return reply_from_text(content)


def reply_from_text(content: str) -> ReplyObject:
    """A reply object from a model's text, with ``[hangup]`` / ``[transfer]`` turned into fields.

    A transfer wins over a hangup when the model writes both: handing the caller to a person
    ends the agent's part of the call anyway."""
    tokens = {match.lower() for match in _TOKEN.findall(content)}
    text = content.strip()
    if tokens:
        # Drop the tokens and the gaps they leave, keeping the model's line breaks.
        lines = (re.sub(r"[ \t]+", " ", line).strip() for line in _TOKEN.sub(" ", content).splitlines())
        text = "\n".join(line for line in lines if line)
    answer: ReplyObject = {"text": text}
    if "transfer" in tokens:
        answer["action"] = "transfer"
    elif "hangup" in tokens:
        answer["hangup"] = True
    return answer


def chat_completions_url(base_url: str) -> str:
    """``base_url`` (like ``http://127.0.0.1:11434/v1``) with ``/chat/completions`` appended, unless
    it already ends with it."""
    url = base_url.rstrip("/")
    return url if url.endswith("/chat/completions") else f"{url}/chat/completions"


async def _read_limited(response: aiohttp.ClientResponse) -> bytes:
    body = bytearray()
    async for chunk in response.content.iter_any():
        body += chunk
        if len(body) > MAX_LLM_RESPONSE_BYTES:
            raise HostedError(
                f"hosted LLM at {without_credentials(str(response.url))} answered more than {MAX_LLM_RESPONSE_BYTES} bytes"
            )
    return bytes(body)


def without_credentials(url: str) -> str:
    """``url`` without any user or password in it (error messages end up in reports)."""
    try:
        parsed = URL(url)
    except ValueError:
        return url
    return str(parsed.with_user(None)) if parsed.user or parsed.password else url


def _excerpt(text: str) -> str:
    """The start of a body, on one line."""
    flat = " ".join(text.split())
    return flat[:BODY_EXCERPT_CHARS] if flat else "(empty body)"


def _describe(exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error.strerror or str(exc.os_error)
        return f"connection to {exc.host}:{exc.port} failed: {reason}"
    return _excerpt(scrub(f"{type(exc).__name__}: {exc}") if str(exc) else type(exc).__name__)


def fill_variables(text: str | None, variables: Mapping[str, str]) -> str | None:
    """Replace ``{{name}}`` (whitespace inside the braces allowed) with ``variables[name]``;
    unknown names are left as written."""
    if text is None or "{{" not in text:
        return text

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return variables[name] if name in variables else match.group(0)

    return _VARIABLE.sub(value, text)


@dataclass(slots=True)
class HostedConfig:
    """How hosted mode answers, as ``serve`` and the Python API set it up."""

    llm_url: str | None = None
    llm_key_env: str = LLM_KEY_ENV  # the key is read from this variable, never kept in config or logs
    llm_model: str = DEFAULT_MODEL
    scripted: dict[str, list[str | dict[str, Any]]] = field(default_factory=dict)  # agent id -> replies

    def responder_for(
        self, agent_id: str | None, session_factory: Callable[[], aiohttp.ClientSession]
    ) -> Responder:
        """Scripted replies for this agent (a fresh responder each call, so every call starts at
        the first reply), else the chat endpoint if ``llm_url`` is set, else the no-model line."""
        if agent_id is not None and agent_id in self.scripted:
            return ScriptedResponder(self.scripted[agent_id])
        if self.llm_url:
            return ChatCompletionsResponder(
                session_factory,
                self.llm_url,
                api_key=os.environ.get(self.llm_key_env) or None,
                model=self.llm_model,
            )
        return NoModelResponder()
