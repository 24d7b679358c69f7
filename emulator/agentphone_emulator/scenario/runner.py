"""Runs one scenario against a started emulator: fresh state, setup through the REST API, the
timeline of steps through the engine, then every expectation checked into a :class:`ScenarioResult`.

The emulator runs on a virtual clock, so a scenario's minutes of speech, silences and retry
backoffs cost no real time, while the real time the user's server takes is kept (and measured).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from pydantic import BaseModel

from ..app_reference import is_app_reference
from ..clock import ClockRangeError
from ..engine.targets import split_app_reference
from ..engine.voice import DEFAULT_CALLER
from ..server import Emulator
from ..settings import AccountSettings
from ..store.findings import Finding
from .call_steps import CallRunner
from .checker import as_findings_expect
from .golden_compare import GoldenMode, apply_goldens
from .loader import LoadedScenario
from .models import (
    SEVERITY_RANK,
    FindingsExpect,
    Probe,
    ProbeStep,
    SendTextStep,
    Setup,
    TextStep,
    WaitStep,
)
from .persona_llm import LlmEndpoint
from .results import FindingLine, Path, ScenarioResult, TranscriptLine
from .run_context import Api, RunContext, ScenarioError, transcript_text
from .text_steps import TextRunner
from .variables import substitute_all


def with_path(target: str, path: str | None) -> str:
    """The run's target with its path replaced by ``path`` (``setup.webhook.path``)."""
    if path is None:
        return target
    if is_app_reference(target):
        reference, _ = split_app_reference(target)
        return reference + path
    parts = urlsplit(target)
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class ScenarioRun(RunContext):
    """One scenario as it runs: its setup through the REST API, its timeline, its final checks."""

    @functools.cached_property
    def texts(self) -> TextRunner:
        """The text steps' runner (the call steps make their own: it keeps no state of its own)."""
        return TextRunner(self)

    # -- setup ---------------------------------------------------------------------------------------

    async def setup(self) -> None:
        setup: Setup = self.scenario.setup
        self.emulator.reset(setup.account or self.settings)
        self.started = self.emulator.clock.now()
        self.values.update({k: as_text(v) for k, v in self.scenario.variables.items()})
        self.values.update(self.cli_variables)
        self.values["caller"] = DEFAULT_CALLER
        self.values["scenario.name"] = self.scenario.name
        for name, agent in setup.agents.items():
            body = agent.model_dump(by_alias=True, exclude_unset=True, mode="json")
            body["name"] = body.get("name") or name
            body = substitute_all(body, self.values, keep_unknown=True)
            created = await self.api.call(("setup", "agents", name), "POST", "/v1/agents", body)
            self.agents[name] = created["id"]
            self.values[f"agents.{name}.id"] = created["id"]
            self.values[f"agents.{name}.name"] = created["name"]
        for name, spec in setup.numbers.items():
            path: Path = ("setup", "numbers", name)
            agent_ref = spec if isinstance(spec, str) else spec.agent
            body = {"agentId": self.agent_id(path, agent_ref)} if agent_ref else {}
            if not isinstance(spec, str):
                body["type"] = spec.type
                if spec.area_code:
                    body["areaCode"] = spec.area_code
            bought = await self.api.call(path, "POST", "/v1/numbers", body)
            self.numbers[name] = (bought["id"], bought["phoneNumber"])
            self.values[f"numbers.{name}"] = bought["phoneNumber"]
        for index, contact in enumerate(setup.contacts):
            body = substitute_all(dict(contact), self.values)
            await self.api.call(("setup", "contacts", index), "POST", "/v1/contacts", body)
        await self._setup_webhook(setup)
        if setup.hosted is not None and setup.hosted.replies:
            replies = {
                self.agent_id(("setup", "hosted", "replies", name), name): substitute_all(
                    lines, self.values, keep_unknown=True
                )
                for name, lines in setup.hosted.replies.items()
            }
            self.emulator.configure_hosted(replies=replies)

    async def _setup_webhook(self, setup: Setup) -> None:
        if setup.webhook is False:
            return
        hook = setup.webhook
        agent_id = None
        if hook is not None and hook.agent is not None:
            agent_id = self.agent_id(("setup", "webhook", "agent"), hook.agent)
        self.emulator.set_webhook(
            with_path(self.target, hook.path if hook else None),
            agent_id=agent_id,
            secret=self.secret,
            timeout=hook.timeout if hook else None,
            context_limit=hook.context_limit if hook else None,
        )

    # -- the timeline ----------------------------------------------------------------------------------

    async def play(self) -> None:
        calls = CallRunner(self)
        for path, step in self.scenario.timeline():
            if isinstance(step, TextStep):
                await self.texts.text_in(path, step)
            elif isinstance(step, SendTextStep):
                await self.texts.text_out(path, step)
            elif isinstance(step, WaitStep):
                try:
                    await self.emulator.aadvance(step.wait)
                except ClockRangeError as exc:  # each wait is bounded, but enough of them add up
                    raise ScenarioError((*path, "wait"), str(exc)) from None
            elif isinstance(step, ProbeStep):
                await self.probe(path, step)
            else:
                await calls.play(path, step)
        await self.emulator.asettle()

    # -- probes -----------------------------------------------------------------------------------------

    async def probe(self, path: Path, step: ProbeStep) -> None:
        from ..engine import probes

        spec = Probe(kind=step.probe) if isinstance(step.probe, str) else step.probe  # the defaults
        kind = spec.kind
        # Fix: these pointed at the step, not at the probe's from / body key.
        sender = self.number((*path, "probe", "from"), spec.from_)
        body = self.sub((*path, "probe", "body"), spec.body)
        if spec.to is not None:
            to = self.number((*path, "probe", "to"), spec.to)
        elif self.numbers:
            to = next(iter(self.numbers.values()))[1]
        else:
            raise ScenarioError((*path, "probe"), "a probe needs a number: add one to setup.numbers")
        platform = self.emulator.platform
        number = next((n for n in self.account.numbers.values() if n.phone_number == to), None)
        if number is None:
            # Fix: a bare next() raised StopIteration in this coroutine, reported as an internal error.
            raise ScenarioError(
                (*path, "probe", "to"),
                f"the probe could not be sent: {to} is not one of the account's numbers",
            )
        try:
            run = await probes.run_probe(platform, self.account, number, kind, from_=sender, body=body)
        except probes.NoWebhook as exc:
            raise ScenarioError((*path, "probe"), str(exc)) from None
        answer = run.answer
        replies = [m for m in run.replies if m.id not in self.sent_by_scenario]
        shown = str(answer.status) if answer.status is not None else answer.error or "no answer"
        self.transcript.append(
            TranscriptLine(
                "platform",
                f"probe {kind}: answered {shown}",
                self.at_s(),
                label="probe",
                first_chunk_ms=answer.duration_ms,
            )
        )
        expect = step.expect
        at = (*path, "expect")
        wanted = expect.status if expect is not None and expect.status is not None else None
        if wanted is None:
            ok = run.answered_as_expected
            expected = "2xx" if kind == "duplicate" else "400, 401 or 403"
            self.checker.record((*at, "status"), f"probe {kind}: the server's answer", ok, expected, shown)
        else:
            allowed = [wanted] if isinstance(wanted, int) else wanted
            self.checker.record(
                (*at, "status"),
                f"probe {kind}: the server's answer",
                answer.status in allowed,
                " or ".join(str(s) for s in allowed),
                shown,
            )
        no_reply = True if expect is None or expect.no_reply is None else expect.no_reply
        self.checker.equal(
            (*at, "no_reply"), f"probe {kind}: the server does not act on it", no_reply, not replies
        )

    # -- the end -----------------------------------------------------------------------------------------

    def check_scenario(self) -> None:
        expect = self.scenario.expect
        at: Path = ("expect",)
        if expect is not None:
            if expect.sms_received is not None:
                sent = self.outbound_texts()
                position = 0
                for index, rule in enumerate(expect.sms_received):
                    path = (*at, "sms_received", index)
                    for offset, message in enumerate(sent[position:]):
                        if self.checker.holds(rule, message.body):
                            self.checker.text(path, f"text #{index + 1} the agent sent", rule, message.body)
                            position += offset + 1
                            break
                    else:
                        # Fix: this went through checker.text, which quotes what it got: the list of
                        # texts left came out quoted twice ("'Got it'") and "no more texts" quoted.
                        bodies = "; ".join(repr(m.body) for m in sent[position:]) or "no more texts"
                        expected = self.checker.describe(rule)
                        self.checker.fail(path, f"text #{index + 1} the agent sent", expected, bodies)
            if expect.sms_count is not None:
                self.checker.equal(
                    (*at, "sms_count"), "texts the agent sent", expect.sms_count, len(self.outbound_texts())
                )
            if expect.transcript is not None:
                joined = "\n".join(transcript_text(call) for call in self.account.calls.values())
                self.checker.text((*at, "transcript"), "every call's transcript", expect.transcript, joined)
            if expect.deliveries is not None:
                self._check_deliveries(expect.deliveries)
        self._check_findings()

    def _check_deliveries(self, rule: Any) -> None:
        deliveries = list(self.account.deliveries.values())
        at: Path = ("expect", "deliveries")
        if rule.all_succeeded is not None:
            bad = [f"{d.event_type} {d.id}: {d.status}" for d in deliveries if d.status != "success"]
            self.checker.record(
                (*at, "all_succeeded"),
                "every webhook delivery succeeded",
                (not bad) == rule.all_succeeded,
                "all succeeded" if rule.all_succeeded else "some failed",
                "; ".join(bad) or f"all {len(deliveries)} succeeded",
            )
        if rule.max_attempts is not None:
            most = max((d.attempt_count for d in deliveries), default=0)
            self.checker.at_most(
                (*at, "max_attempts"), "attempts per delivery", rule.max_attempts, most, "attempts"
            )
        if rule.count is not None:
            self.checker.equal((*at, "count"), "webhook deliveries", rule.count, len(deliveries))

    @functools.cached_property
    def allowed_codes(self) -> set[str]:
        """Every finding code the scenario names anywhere: naming one is expecting it (the
        scenario does not change while it runs: walked once, read by the check and the report)."""
        codes: set[str] = set()

        def walk(value: Any) -> None:
            if isinstance(value, FindingsExpect):
                codes.update(value.expect)
                codes.update(value.allow)
            elif isinstance(value, BaseModel):  # Fix: hasattr(instance, "model_fields") is deprecated
                for name in type(value).model_fields:
                    field_value = getattr(value, name)
                    if name == "findings" and isinstance(field_value, list):
                        codes.update(field_value)
                    else:
                        walk(field_value)
            elif isinstance(value, list | tuple):
                for item in value:
                    walk(item)
            elif isinstance(value, dict):
                for item in value.values():
                    walk(item)

        walk(self.scenario)
        return codes

    def _check_findings(self) -> None:
        expect = self.scenario.expect
        rule = as_findings_expect(expect.findings) if expect is not None else None
        rule = rule or FindingsExpect()
        limit = rule.none_above or "warning"
        allowed = self.allowed_codes
        found: list[Finding] = list(self.account.findings)
        self.checker.findings(
            ("expect", "findings"), "scenario", rule.model_copy(update={"none_above": None}), found
        )
        for finding in found:
            if str(finding.code) in allowed or SEVERITY_RANK.get(finding.severity, 2) <= SEVERITY_RANK[limit]:
                continue
            where = " ".join(
                part
                for part in (
                    f"call {finding.call_id}" if finding.call_id else "",
                    f"turn {finding.turn}" if finding.turn is not None else "",
                    finding.event or "",
                )
                if part
            )
            self.checker.fail(
                ("expect", "findings"),
                f"no unexpected {finding.severity} finding" + (f" ({where})" if where else ""),
                f"nothing above {limit}, or list {finding.code} under expect.findings",
                f"{finding.code}: {finding.message}",
            )

    def finding_lines(self) -> list[FindingLine]:
        allowed = self.allowed_codes
        return [FindingLine.of(f, allowed=str(f.code) in allowed) for f in self.account.findings]


def as_text(value: str | int | float | bool) -> str:
    """A variable's value as it is written in YAML: ``true``, not Python's ``True``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def run_scenario(
    emulator: Emulator,
    session: aiohttp.ClientSession,
    loaded: LoadedScenario,
    *,
    target: str,
    secret: str,
    settings: AccountSettings | None = None,
    variables: Mapping[str, str] | None = None,
    llm: LlmEndpoint | None = None,
    goldens: GoldenMode = "check",
) -> ScenarioResult:
    """Run ``loaded`` on ``emulator`` (started, on a virtual clock) against ``target``; never raises
    for anything the scenario or the user's server does: that becomes the result's outcome.
    ``goldens``: compare an ``expect: golden`` conversation with its file, ``update`` the file, or
    leave it (``off``: the pytest plugin compares through syrupy)."""
    scenario = loaded.scenario
    result = ScenarioResult(name=scenario.name, file=loaded.file, line=loaded.line, tags=list(scenario.tags))
    if scenario.skip:
        result.outcome = "skipped"
        result.skip_reason = scenario.skip if isinstance(scenario.skip, str) else "skip: true"
        return result
    started = time.perf_counter()
    run = ScenarioRun(
        emulator,
        Api(session, emulator.base_url),
        loaded,
        target=target,
        secret=secret,
        settings=settings or AccountSettings(),
        variables=variables or {},
        llm=llm,
    )
    try:
        await run.setup()
        await run.play()
        run.check_scenario()
    except ScenarioError as exc:
        result.outcome = "error"
        line = loaded.line_of(exc.path) if exc.path else loaded.line
        result.error = f"{loaded.file}:{line}: {exc}"
    except Exception as exc:  # the emulator's own failure: say so plainly, keep running the others
        result.outcome = "error"
        result.error = f"internal error in agentphone-emulator: {type(exc).__name__}: {exc}"
    result.wall_s = time.perf_counter() - started
    result.simulated_s = run.at_s()
    result.checks = run.checker.checks
    result.transcript = sorted(run.transcript, key=lambda line: line.at_s)
    result.findings = run.finding_lines()
    result.calls = dict(run.calls)
    if result.outcome == "passed" and result.failures:
        result.outcome = "failed"
    apply_goldens(result, loaded, goldens)
    return result
