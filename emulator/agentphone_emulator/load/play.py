"""One simulated caller's play of a scenario, on the engine's loop: the scenario runner's own
steps (CallRunner, TextRunner) against the worker's emulator, with the scenario's setup done once
per worker and the caller's own number in place of the scenario's, then what it measured.

A voice caller plays the scenario's calls (and the texts sent during them); a texter plays its
texts. ``wait`` and ``probe`` steps are not played: a load run's think time is Locust's
``wait_time``, and probes test a webhook's security, not its capacity.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..call_handle import CallHandle
from ..engine.agent_reply import AgentReply
from ..scenario.call_steps import CallRunner
from ..scenario.models import (
    InboundCallStep,
    OutboundCallStep,
    SendTextStep,
    TextStep,
    WebCallStep,
)
from ..scenario.results import Path
from ..scenario.run_context import ScenarioError
from ..scenario.runner import ScenarioRun
from . import measurements
from .measurements import CHECK, EMULATOR, ERROR, FINDING, TURN, Measurement, Recorder
from .transcripts import PlayTranscript, lines_of

# The last two keys of a number's path that name the caller's side of a conversation: these get
# the simulated caller's own number, whatever the scenario wrote (else every caller collides).
CALLER_KEYS = {("call", "from"), ("text", "from"), ("outbound_call", "to")}
CALL_STEPS = (InboundCallStep, OutboundCallStep, WebCallStep)
TEXT_STEPS = (TextStep, SendTextStep)


class LoadRun(ScenarioRun):
    """A ScenarioRun for one play: the worker's setup (agents, numbers, values) shared, the rest
    (checks, transcript) its own, and the caller's number where the scenario names the caller."""

    def __init__(self, base: ScenarioRun, caller: str) -> None:
        super().__init__(
            base.emulator,
            base.api,
            base.loaded,
            target=base.target,
            secret=base.secret,
            settings=base.settings,
            variables=base.cli_variables,
        )
        self.values.update(base.values)
        self.values["caller"] = caller
        self.numbers = base.numbers
        self.agents = base.agents
        self.caller = caller

    def number(self, path: Path, ref: str) -> str:
        if tuple(path[-2:]) in CALLER_KEYS:
            return self.caller
        return super().number(path, ref)


class LoadCalls(CallRunner):
    """The scenario's CallRunner, keeping each call's replies for their measurements."""

    def __init__(self, run: ScenarioRun) -> None:
        super().__init__(run)
        self.measured: set[int] = set()  # the replies measured (by id: each once)

    async def turn(self, at: Path, turn: Any, handle: CallHandle, *, cut_next: bool) -> AgentReply | None:
        reply = await super().turn(at, turn, handle, cut_next=cut_next)
        self.measure(handle)  # as the call goes: a run that ends mid-call keeps its turns so far
        return reply

    def log_replies(self, handle: CallHandle, *, speaker_label: str) -> None:
        self.measure(handle)
        super().log_replies(handle, speaker_label=speaker_label)

    def measure(self, handle: CallHandle) -> None:
        recorder = measurements.current.get()
        for reply in handle.replies:
            if id(reply) not in self.measured and reply._closed.is_set():
                self.measured.add(id(reply))
                if recorder is not None:
                    _reply_measurements(recorder, reply)
                    for finding in reply.findings:
                        recorder.reported.add(id(finding))
                        recorder.add(FINDING, "contract", 0.0, failure=str(finding.code))


async def play(
    base: ScenarioRun,
    caller: str,
    sink: Callable[[Measurement], None],
    *,
    calls: bool,
    texts: bool,
    keep: Callable[[PlayTranscript], None] | None = None,
) -> int:
    """Play ``base``'s scenario once as ``caller``, each measurement to ``sink`` as it is taken;
    never raises for what the agent does. Returns how many measurements it took."""
    recorder = Recorder(base.scenario.name, sink)
    measurements.current.set(recorder)  # each play is a task of its own: its own context
    run = LoadRun(base, caller)
    runner = LoadCalls(run)
    findings_before = len(run.account.findings)
    try:
        for path, step in run.scenario.timeline():
            if calls and isinstance(step, CALL_STEPS):
                await runner.play(path, step)
            elif texts and isinstance(step, TextStep):
                await run.texts.text_in(path, step)
            elif texts and isinstance(step, SendTextStep):
                await run.texts.text_out(path, step)
    except ScenarioError as exc:
        recorder.add(ERROR, "scenario error", 0.0, failure=str(exc))
    except Exception as exc:  # the emulator's own failure: one line, the run goes on
        recorder.add(ERROR, "internal error", 0.0, failure=f"{type(exc).__name__}: {exc}")
    _findings(recorder, run, findings_before)
    for check in run.checker.checks:
        if not check.passed:
            recorder.add(CHECK, "checks", 0.0, failure=check.what)
    if keep is not None and recorder.count:
        keep(
            PlayTranscript(
                base.scenario.name,
                caller,
                tuple(recorder.failures),
                recorder.slowest_ms,
                lines_of(run.transcript),
            )
        )
    return recorder.count


def _reply_measurements(recorder: Recorder, reply: AgentReply) -> None:
    if reply.mode != "webhook" or not reply.turn:
        return  # the greeting and hosted replies: the agent's webhook did not answer them
    if reply.first_chunk_ms is not None and reply.last_chunk_ms is not None:
        size = sum(len(c.chunk.text.encode()) for c in reply.chunks)
        recorder.add(TURN, f"turn {reply.turn} first chunk", reply.first_chunk_ms, size)
        recorder.add(TURN, f"turn {reply.turn} last chunk", reply.last_chunk_ms, size)
    elif not reply.findings:
        recorder.add(TURN, f"turn {reply.turn} first chunk", 0.0, failure="no reply")
    if reply._sent_perf is not None:
        # The emulator's own work before the request went out: the envelope, the signature, the
        # delivery's record, and any lag of its loop since the turn was due.
        due = reply.requested_at.timestamp()
        sent = reply._sent_perf - time.perf_counter() + time.time()
        recorder.add(EMULATOR, "turn send delay", max(0.0, (sent - due) * 1000))


def _findings(recorder: Recorder, run: ScenarioRun, start: int) -> None:
    calls = set(recorder.call_ids)
    deliveries = recorder.delivery_ids
    found = run.account.findings
    # Other callers' findings land in the same list; ours name our calls or our deliveries. The
    # list only grows while the worker runs, so it is enough to look past where it stood.
    for finding in found[max(0, min(start, len(found))) :]:
        if id(finding) in recorder.reported:
            continue
        if finding.call_id in calls or finding.delivery_id in deliveries:
            recorder.add(FINDING, "contract", 0.0, failure=str(finding.code))


def summary(measured: list[Measurement]) -> dict[str, Any]:
    """For tests and logs: how many of each kind, and the failures."""
    kinds: dict[str, int] = {}
    for m in measured:
        kinds[m.request_type] = kinds.get(m.request_type, 0) + 1
    return {"kinds": kinds, "failures": [m.failure for m in measured if m.failure]}
