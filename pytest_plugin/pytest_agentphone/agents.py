"""The agent under test: an agent on a number of its own, its webhook pointed at the user's server
(a URL, an in-process app by ``module:attr``, or an app object), signed with a known secret; and
what a test does with it: ring it, text it, read what it sent and what it did wrong.

    def test_greeting(make_agent):
        agent = make_agent(begin_message="Hi, this is Acme support.")
        call = agent.ring()
        assert call.greeting.text == "Hi, this is Acme support."
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from agentphone_emulator import ApiError, Emulator
from agentphone_emulator.api.agents import agent_fields
from agentphone_emulator.app_reference import is_app_reference
from agentphone_emulator.call_handle import CallHandle, caller_speech
from agentphone_emulator.engine.sms import Received
from agentphone_emulator.engine.targets import TargetError
from agentphone_emulator.engine.voice import DEFAULT_CALLER
from agentphone_emulator.errors import describe_api_error, first_validation_error
from agentphone_emulator.models.agents import AgentCreate
from agentphone_emulator.scenario.runner import with_path
from agentphone_emulator.store import agents as agent_store
from agentphone_emulator.store import numbers as number_store
from agentphone_emulator.store.findings import Finding
from agentphone_emulator.store.records import MessageRecord

from .findings import assert_findings, assert_no_findings

APP_HOST = "agentphone-app-{key}.test"  # where an app object is mounted (one per object): never dialled


class ProvisionError(Exception):
    """The agent could not be set up: a one-line reason naming the argument or the API's answer."""


@dataclass(slots=True)
class AgentUnderTest:
    """An agent on its own number, webhook pointed at the user's server: what ``make_agent(...)``
    returns, the handle a test holds. Ring it, text it, read what it sent and did wrong."""

    emulator: Emulator
    """The emulator it lives on (the test's ``emulator`` or ``async_emulator``)."""
    id: str
    """The agent's id (``agt_...``)."""
    name: str
    """The agent's name."""
    number: str
    """Its phone number, E.164: what callers dial and texters text."""
    number_id: str
    """Its number's id."""
    webhook_url: str
    """Where its events go (a URL, or ``module:attr`` plus a path for an in-process app)."""
    secret: str
    """What its webhooks are signed with."""

    # -- a caller ---------------------------------------------------------------------------------

    def ring(
        self,
        *,
        from_: str = DEFAULT_CALLER,
        speech: str = "text",
        line: str | None = None,
        voice: str | None = None,
        seed: int = 0,
        rate: float = 1.0,
    ) -> CallHandle:
        """Call the agent (blocking: the ``emulator`` fixture).

        Args:
            from_: The caller's number, E.164.
            speech: ``text`` (the words go as typed) or ``synthesised``: each ``say`` and
                ``interrupt`` is spoken, sent through ``line`` and recognised, and the agent is sent
                what was recognised (the speech extra), as a scenario's ``speech: synthesised``.
                A ``line`` or ``voice`` makes it ``synthesised``.
            line: The phone line's profile: ``clean`` (default), ``landline``, ``mobile-weak`` ...
            voice: An installed voice (``agentphone-emulator voices``); default: the Piper voice.
            seed: Where the line's noise and losses fall (the n-th spoken turn uses seed + n).
            rate: How fast the caller speaks, 0.5 to 2.

        Returns:
            The call, once the agent answers, its greeting playing (``call.greeting``).
        """
        spoken = _spoken(speech, line, voice, rate, seed)
        call = self.emulator.ring(to=self.number, from_=from_)
        return call.speak_with(line=line or "clean", voice=voice, seed=seed, rate=rate) if spoken else call

    async def aring(
        self,
        *,
        from_: str = DEFAULT_CALLER,
        speech: str = "text",
        line: str | None = None,
        voice: str | None = None,
        seed: int = 0,
        rate: float = 1.0,
    ) -> CallHandle:
        """Call the agent, from async code (``async_emulator``, or ``emulator`` from an async test).

        Args:
            from_: The caller's number, E.164.
            speech: ``text`` or ``synthesised`` (see ``ring``).
            line: The phone line's profile (see ``ring``).
            voice: An installed voice (see ``ring``).
            seed: Where the line's noise and losses fall.
            rate: How fast the caller speaks, 0.5 to 2.

        Returns:
            The call, once the agent answers, its greeting playing.
        """
        spoken = _spoken(speech, line, voice, rate, seed)
        call = await self.emulator.aring(to=self.number, from_=from_)
        return call.speak_with(line=line or "clean", voice=voice, seed=seed, rate=rate) if spoken else call

    # -- a texter ---------------------------------------------------------------------------------

    def text(self, body: str, *, from_: str = DEFAULT_CALLER, media_urls: Sequence[str] = ()) -> Received:
        """Text the agent (blocking). Read its answers with ``texts_to``.

        Args:
            body: The text.
            from_: The texter's number, E.164.
            media_urls: Attachments' URLs (makes it an MMS).

        Returns:
            The stored message and its delivery, after the webhook's first attempt (and whatever
                the agent sent while answering it).
        """
        return self.emulator.send_sms(from_=from_, to=self.number, body=body, media_urls=media_urls)

    async def atext(
        self, body: str, *, from_: str = DEFAULT_CALLER, media_urls: Sequence[str] = ()
    ) -> Received:
        """Text the agent, from async code.

        Args:
            body: The text.
            from_: The texter's number, E.164.
            media_urls: Attachments' URLs (makes it an MMS).

        Returns:
            The stored message and its delivery, after the webhook's first attempt.
        """
        return await self.emulator.asend_sms(from_=from_, to=self.number, body=body, media_urls=media_urls)

    def texts_to(self, phone: str = DEFAULT_CALLER) -> list[str]:
        """What the agent texted to ``phone``.

        Args:
            phone: The other party's number, E.164 (default: the default caller's, which ``text``
                and ``ring`` use).

        Returns:
            The bodies of the texts the agent's number sent there, oldest first.
        """
        return [m.body for m in self.messages() if m.direction == "outbound" and m.to_number == phone]

    def messages(self) -> list[MessageRecord]:
        """Every message on the agent's number.

        Returns:
            The messages both ways, oldest first.
        """

        def read() -> list[MessageRecord]:
            messages = self.emulator.account().messages.values()
            return sorted((m for m in messages if m.number_id == self.number_id), key=lambda m: m.created_at)

        return self.emulator.call_soon(read)

    # -- what it did wrong ------------------------------------------------------------------------

    def findings(self) -> list[Finding]:
        """What the user's server did against the contract on this agent's events.

        Returns:
            The findings on its calls' turns and its texts' deliveries (and those tied to no
                agent), oldest first.
        """
        return [f for f in self.emulator.findings() if f.agent_id in (None, self.id)]

    def assert_findings(self, *codes: str) -> list[Finding]:
        """Assert that each of ``codes`` was found on this agent's events (and tell the teardown
        check the test expected them).

        Args:
            *codes: Finding codes (``"webhook_timeout"`` or ``FindingCode.WEBHOOK_TIMEOUT``).

        Returns:
            The matching findings.

        Raises:
            AssertionError: A code was not found (the message lists what was).
            ValueError: No code given, or one that is no finding code.
        """
        return assert_findings(self.findings(), *codes)

    def assert_no_findings(self, *, allow: Sequence[str] = (), severity: str = "warning") -> None:
        """Assert that nothing at ``severity`` or above was found on this agent's events.

        Args:
            allow: Codes that may be there.
            severity: The lowest severity that counts: ``info``, ``warning`` or ``error``.

        Raises:
            AssertionError: Something was found (the message lists it).
            ValueError: An unknown severity, or an ``allow`` code that is no finding code.
        """
        assert_no_findings(self.findings(), allow=allow, severity=severity)


_NUMBER_OPTIONS = ("area_code", "number_type")
_WEBHOOK_OPTIONS = ("path", "secret", "timeout", "context_limit")


def _spoken(speech: str, line: str | None, voice: str | None, rate: float, seed: int) -> bool:
    """Whether a call is spoken, its settings checked before it rings (a ValueError in one line)."""
    if speech not in ("text", "synthesised"):
        raise ValueError(f"speech must be 'text' or 'synthesised', not {speech!r}")
    spoken = speech == "synthesised" or line is not None or voice is not None or rate != 1.0
    if spoken:
        caller_speech(line=line or "clean", voice=voice, seed=seed, rate=rate)
    return spoken


def provision(
    emulator: Emulator,
    target: Any,
    *,
    default_secret: str,
    index: int,
    options: Mapping[str, Any],
) -> AgentUnderTest:
    """Create the agent (``options`` are AgentCreate fields, by Python or wire name, plus the number
    and webhook options), buy it a number and point its webhook at ``target``."""
    fields = {k: v for k, v in options.items() if k not in (*_NUMBER_OPTIONS, *_WEBHOOK_OPTIONS)}
    _refuse_unknown(fields)
    fields.setdefault("name", f"Agent {index}")
    try:
        body = AgentCreate.model_validate(fields)
    except ValidationError as exc:
        raise ProvisionError(first_validation_error(exc)) from None
    url = webhook_url(emulator, target, options.get("path"))
    secret = options.get("secret") or default_secret

    def create() -> tuple[str, str, str, str]:
        account = emulator.account()
        agent = agent_store.create_agent(emulator.state, account, agent_fields(body))
        try:
            number = number_store.buy_number(
                emulator.state,
                account,
                country="US",
                area_code=options.get("area_code"),
                agent_id=agent.id,
                type=options.get("number_type", "sms"),
                imessage_type=None,
                external_id=None,
                expires_at=None,
            )
        except ApiError:
            del account.agents[agent.id]  # all or nothing: no agent left without its number
            raise
        return agent.id, agent.name, number.id, number.phone_number

    try:
        agent_id, name, number_id, phone = emulator.call_soon(create)
    except ApiError as exc:
        hint = ""
        if exc.status == 402:
            hint = " (more credit: @pytest.mark.agentphone_account(credit_cents=10_000))"
        elif exc.code == "VALIDATION_ERROR_NUMBER_LIMIT":
            hint = " (more numbers: @pytest.mark.agentphone_account(number_limit=...))"
        raise ProvisionError(f"buying its number: {exc.status} {describe_api_error(exc)}{hint}") from None
    try:
        emulator.set_webhook(
            url,
            agent_id=agent_id,
            secret=secret,
            timeout=options.get("timeout"),
            context_limit=options.get("context_limit"),
        )
    except TargetError as exc:
        raise ProvisionError(f"{url}: {exc}") from None
    except ApiError as exc:
        raise ProvisionError(f"{url}: {describe_api_error(exc)}") from None
    return AgentUnderTest(emulator, agent_id, name, phone, number_id, url, secret)


def webhook_url(emulator: Emulator, target: Any, path: str | None) -> str:
    """The webhook URL for ``target``: a URL or ``module:attr`` as given (its path replaced by
    ``path``), or an app object mounted on the emulator under a host of its own."""
    if isinstance(target, str):
        if not is_app_reference(target) and "://" not in target:
            raise ProvisionError(
                f"target {target!r} is neither a URL nor module:attr (e.g. myagent.server:app)"
            )
        return with_path(target, path) if path else target
    base = f"http://{APP_HOST.format(key=id(target))}"
    try:
        emulator.mount(base, target)
    except TargetError as exc:
        raise ProvisionError(str(exc)) from None
    return base + (path or "/")


def _refuse_unknown(fields: Mapping[str, Any]) -> None:
    known: dict[str, str] = {}
    for name, info in AgentCreate.model_fields.items():
        known[name] = name
        if info.alias:
            known[info.alias] = name
    for name in fields:
        if name not in known:
            choices = [*known, *_NUMBER_OPTIONS, *_WEBHOOK_OPTIONS]
            close = difflib.get_close_matches(name, choices, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ProvisionError(f"unknown agent field {name!r}{hint}")
