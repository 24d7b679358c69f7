"""What one play of a scenario measured, in the shape of a Locust request: its kind, its name,
its milliseconds, its size, and the failure if it is one. Pure data, no Locust import: the
engine's loop fills them in, the Locust side fires them."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass, field

# request_type values: the column Locust groups and labels by
CALL = "CALL"  # call setup: the ring (inbound), POST /v1/calls (outbound), create + join (web)
TURN = "TURN"  # a reply's first or last chunk, measured by the engine from the turn's request
SMS = "SMS"  # a text's webhook delivery, from the emulator's send to the agent's answer
EMULATOR = "EMULATOR"  # time the emulator itself added (its loop's lag, its work before a send)
FINDING = "FINDING"  # the agent broke the contract: a failure whose error is the finding's code
CHECK = "CHECK"  # the scenario's own expectation failed
ERROR = "ERROR"  # the play could not go on (a setup name missing, the API refused)


@dataclass(frozen=True, slots=True)
class Measurement:
    request_type: str
    name: str
    response_time_ms: float
    response_length: int = 0
    failure: str | None = None  # the failure's text (a finding's code); None for a success


@dataclass(slots=True)
class Recorder:
    """Collects one play's measurements; the current one is a context variable, so the engine's
    hooks (LoadEmulator) find the play they belong to across awaits."""

    scenario: str
    sink: Callable[[Measurement], None]  # where each goes as it is taken (a deque's append)
    count: int = 0
    call_ids: list[str] = field(default_factory=list)
    delivery_ids: set[str] = field(default_factory=set)
    reported: set[int] = field(default_factory=set)  # findings already sent (by id: each once)
    failures: list[str] = field(default_factory=list)  # what failed, for the play's transcript
    slowest_ms: float = 0.0  # its slowest first chunk

    def add(
        self,
        request_type: str,
        what: str,
        ms: float,
        length: int = 0,
        failure: str | None = None,
    ) -> None:
        name = f"{self.scenario} / {what}"
        self.sink(Measurement(request_type, name, max(0.0, ms), length, failure))
        self.count += 1
        if failure is not None:
            self.failures.append(failure)
        elif request_type == TURN and what.endswith("first chunk"):
            self.slowest_ms = max(self.slowest_ms, ms)


current: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar("agentphone_load", default=None)
