"""The scenario language: what a YAML scenario file may say, as pydantic models.

A file holds one scenario per YAML document (``---`` between them). A scenario sets the platform up
(account, agents, numbers, webhook), then plays a timeline of ``steps`` (calls, texts, waits,
webhook probes), checking an ``expect`` block after each and the scenario's own at the end. For the
common case of one inbound call, ``call`` and ``turns`` may sit at the top level.

``agentphone-emulator schema`` prints the JSON Schema of :class:`Scenario` so an editor can
complete and check the YAML. Every mapping refuses unknown keys, with a did-you-mean.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from ..engine.voice import DEFAULT_CALLER
from ..store.calls import STATUS_OF_REASON, CallStatus, DisconnectionReason
from ..store.findings import FindingCode
from ..vocabulary import ProbeKind, Severity
from .bounds import (
    Fraction,
    RealMilliseconds,
    RealSeconds,
    RingSeconds,
    RunCount,
    SimulatedLimit,
    SimulatedSeconds,
)
from .golden_models import GoldenSetting, add_shorthand_to_schema, golden_shorthand
from .persona_models import Persona
from .setup_models import AgentSetup as AgentSetup  # the setup's models, re-exported: the language is here
from .setup_models import HostedSetup as HostedSetup
from .setup_models import NumberSetup as NumberSetup
from .setup_models import Setup as Setup
from .setup_models import WebhookSetup as WebhookSetup
from .speech_models import TURN_LINE, CallerSpeech
from .strict import Strict, refuse_contradictions
from .text_models import DIGITS as DIGITS  # re-exported: the scenario language's names are here
from .text_models import PATTERN_TIMEOUT_S as PATTERN_TIMEOUT_S
from .text_models import HttpStatus as HttpStatus
from .text_models import Keys as Keys
from .text_models import Text as Text
from .text_models import TextMatch as TextMatch
from .text_models import as_match as as_match

SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "error": 2}


# -- expectations ----------------------------------------------------------------------------------


class FindingsExpect(Strict):
    """Which findings (the agent's server breaking the platform's contract) are fine here."""

    expect: list[FindingCode] = Field(
        default_factory=list, description="Codes that must be found (and are therefore allowed)."
    )
    allow: list[FindingCode] = Field(
        default_factory=list, description="Codes that may be found without failing."
    )
    none_above: Severity | None = Field(
        None,
        description="Fail on any other finding more severe than this (default for a scenario: warning, "
        "so errors fail and warnings are reported).",
    )


class TurnExpect(Strict):
    """What the agent's reply to one caller action must be."""

    text: Text | None = Field(None, description="What the caller heard, chunk texts joined.")
    interim: Text | None = Field(None, description="The interim chunks' text (NDJSON `interim: true`).")
    interim_first: bool | None = Field(None, description="The first chunk is an interim one.")
    within_ms: RealMilliseconds | None = Field(
        None, description="The first chunk arrives within this many milliseconds (real time)."
    )
    done_within_ms: RealMilliseconds | None = Field(
        None, description="The last chunk arrives within this many milliseconds (real time)."
    )
    chunks: int | None = Field(
        None,
        ge=0,
        description="How many chunks the caller heard (began to hear): on a reply cut by the caller or "
        "ended by a hangup, the chunks spoken before that.",
    )
    chunks_sent: int | None = Field(
        None,
        ge=0,
        description="How many chunks the agent sent, heard or not (read until the reply ended or was cut: "
        "a barge-in abandons the request, so later chunks are never read).",
    )
    silent: bool | None = Field(None, description="The caller heard nothing (a timeout, a bad reply ...).")
    interrupted: bool | None = Field(None, description="The reply was cut by the caller's next step.")
    hangup: bool | None = Field(None, description="The agent hung up.")
    transfer: bool | None = Field(None, description="The agent transferred the call.")
    digits: Keys | None = Field(None, description="The keys the agent pressed, in order.")
    status: HttpStatus | None = Field(None, description="The HTTP status the webhook answered with.")
    findings: list[FindingCode] | FindingsExpect | None = Field(
        None, description="Finding codes this turn must produce, or rules (expect / allow / none_above)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> TurnExpect:
        if self.silent:
            heard = [
                ("text", "a reply with words", self.text is not None and as_match(self.text).needs_words()),
                (
                    "interim",
                    "a reply with words",
                    self.interim is not None and as_match(self.interim).needs_words(),
                ),
                ("hangup: true", "a reply that hangs up", bool(self.hangup)),
                ("transfer: true", "a reply that transfers", bool(self.transfer)),
                (f"digits: {self.digits}", "a reply that presses keys", bool(self.digits)),
            ]
            found = [
                ("silent", f"'silent: true' contradicts '{key}': {what} is not silent")
                for key, what, on in heard
                if on
            ]
            refuse_contradictions(TurnExpect, self, found[:1])
        return self


class DeliveryExpect(Strict):
    """A webhook delivery, as the platform's delivery log has it."""

    status: Literal["success", "failed", "pending"] | None = Field(
        None, description="pending = failed so far, a retry is scheduled."
    )
    attempts: int | None = Field(None, ge=0, description="Attempts made so far.")
    http_status: HttpStatus | None = Field(None, description="The last attempt's HTTP status.")

    @model_validator(mode="after")
    def _consistent(self) -> DeliveryExpect:
        if self.status is not None and self.http_status is not None:
            succeeded = 200 <= self.http_status < 300
            if succeeded != (self.status == "success"):
                why = "a delivery succeeds with a 2xx" if self.status == "success" else "a 2xx is a success"
                message = f"'http_status: {self.http_status}' contradicts 'status: {self.status}': {why}"
                refuse_contradictions(DeliveryExpect, self, [("http_status", message)])
        return self


class TextExpect(Strict):
    """What must follow a text sent to the agent."""

    delivery: DeliveryExpect | None = Field(None, description="The webhook delivery of the text.")
    reply: Text | None = Field(
        None, description="The agent texts back (through the API) something matching this."
    )
    no_reply: bool | None = Field(None, description="The agent does not text back.")
    reply_within_s: RealSeconds = Field(
        5.0, description="Real seconds to wait for the agent's reply text (it may send it later)."
    )
    findings: list[FindingCode] | FindingsExpect | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TextExpect:
        if self.reply is not None and self.no_reply:
            message = "'no_reply: true' contradicts 'reply': the agent texts back or it does not; keep one"
            refuse_contradictions(TextExpect, self, [("no_reply", message)])
        return self


class CallExpect(Strict):
    """How a call must have gone (checked once it has ended)."""

    status: CallStatus | None = Field(None, description="The call's status: completed, failed, busy ...")
    reason: DisconnectionReason | None = Field(
        None, description="disconnectionReason: user_hangup, agent_hangup, call_transfer, inactivity ..."
    )
    transferred_to: str | None = Field(None, description="The number the call was transferred to.")
    transcript: Text | None = Field(
        None, description="The whole transcript, one 'agent: ...' / 'user: ...' line per utterance."
    )
    max_duration_s: SimulatedSeconds | None = Field(
        None, description="The call lasted at most this many seconds."
    )
    agent_said: Text | None = Field(None, description="Everything the agent said, joined.")
    key_presses: Keys | None = Field(None, description="Every key pressed on the call, in order.")
    findings: list[FindingCode] | FindingsExpect | None = None
    golden: GoldenSetting | None = Field(
        None, description="Compare the call's conversation with its golden file (docs/regressions.md)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> CallExpect:
        found = []
        if (
            self.reason is not None
            and self.status is not None
            and STATUS_OF_REASON[self.reason] != self.status
        ):
            found.append(
                (
                    "reason",
                    f"'reason: {self.reason}' contradicts 'status: {self.status}': a call that ends "
                    f"{self.reason} is {STATUS_OF_REASON[self.reason]}",
                )
            )
        if self.transferred_to is not None and self.reason not in (None, "call_transfer"):
            found.append(
                (
                    "transferred_to",
                    f"'transferred_to' contradicts 'reason: {self.reason}': only a call that ends "
                    "call_transfer was transferred",
                )
            )
        refuse_contradictions(CallExpect, self, found)
        return self


class DeliveriesExpect(Strict):
    all_succeeded: bool | None = Field(None, description="Every delivery ended in success.")
    max_attempts: int | None = Field(None, ge=1, description="No delivery needed more attempts.")
    count: int | None = Field(None, ge=0, description="How many deliveries were made.")


class ScenarioExpect(Strict):
    """Checked after the last step."""

    sms_received: list[Text] | None = Field(
        None, description="Texts the agent sent, in order (each matcher must match a later text)."
    )
    sms_count: int | None = Field(None, ge=0, description="How many texts the agent sent.")
    transcript: Text | None = Field(None, description="The transcripts of every call, joined.")
    deliveries: DeliveriesExpect | None = None
    findings: list[FindingCode] | FindingsExpect | None = Field(
        None, description="Findings allowed or expected across the scenario (default: no errors)."
    )
    golden: GoldenSetting | None = Field(
        None, description="Compare the whole conversation with its golden file (docs/regressions.md)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> ScenarioExpect:
        listed = len(self.sms_received or [])
        if self.sms_count is not None and self.sms_count < listed:
            message = f"'sms_count: {self.sms_count}' contradicts 'sms_received': it lists {listed} texts"
            refuse_contradictions(ScenarioExpect, self, [("sms_count", message)])
        return self


# ``expect: golden`` is ``expect: {golden: true}`` (golden_models.py); the schema allows the string too.
CallExpectField = Annotated[CallExpect | None, BeforeValidator(golden_shorthand)]
ScenarioExpectField = Annotated[ScenarioExpect | None, BeforeValidator(golden_shorthand)]
GOLDEN_SHORTHAND = Field(None, json_schema_extra=add_shorthand_to_schema)


# -- caller actions on a call ------------------------------------------------------------------------


class SayStep(Strict):
    say: str = Field(description="The caller says this (once the agent is quiet).")
    confidence: Fraction = Field(0.95, description="The speech-to-text confidence sent along.")
    expect: TurnExpect | None = None
    line: Annotated[str | None, TURN_LINE] = Field(None, description="speech: synthesised: this turn's line.")


class InterruptStep(Strict):
    interrupt: str = Field(description="The caller talks over the agent's current reply.")
    after: SimulatedSeconds = Field(1.0, description="Seconds into the reply's speech.")
    confidence: Fraction = 0.95
    expect: TurnExpect | None = None
    line: Annotated[str | None, TURN_LINE] = Field(None, description="speech: synthesised: this turn's line.")


class PressStep(Strict):
    press: Keys = Field(min_length=1, description="Keys the caller presses (0-9, * and #).")
    after: SimulatedSeconds | None = Field(
        None,
        description="Press over the agent's current reply, this many seconds into its speech (the "
        "keys cut it off, as a barge-in does). Default: once the agent is quiet.",
    )
    expect: TurnExpect | None = None


class SilenceStep(Strict):
    silence: SimulatedSeconds = Field(description="The caller says nothing for this many seconds.")


class PauseStep(Strict):
    pause: SimulatedSeconds = Field(description="A short gap before the caller's next step (seconds).")


class HangupStep(Strict):
    hangup: Literal[True] = Field(description="The caller hangs up.")


class ListenStep(Strict):
    listen: Literal[True] = Field(description="Let the agent finish what it is saying.")
    expect: TurnExpect | None = None


class CallTextStep(Strict):
    text: str = Field(description="The caller texts the number they are calling, mid-call.")
    expect: TextExpect | None = None


def _action_of(choices: tuple[str, ...]) -> Callable[[Any], str | None]:
    def tag(value: Any) -> str | None:
        if isinstance(value, Mapping):
            for key in choices:
                if key in value:
                    return f"step:{key}"
            return None
        if isinstance(value, BaseModel):
            for key in choices:
                if key in type(value).model_fields:
                    return f"step:{key}"
        return None

    return tag


TURN_ACTIONS = ("say", "interrupt", "press", "silence", "pause", "hangup", "listen", "text")
Turn = Annotated[
    Annotated[SayStep, Tag("step:say")]
    | Annotated[InterruptStep, Tag("step:interrupt")]
    | Annotated[PressStep, Tag("step:press")]
    | Annotated[SilenceStep, Tag("step:silence")]
    | Annotated[PauseStep, Tag("step:pause")]
    | Annotated[HangupStep, Tag("step:hangup")]
    | Annotated[ListenStep, Tag("step:listen")]
    | Annotated[CallTextStep, Tag("step:text")],
    Discriminator(
        _action_of(TURN_ACTIONS),
        custom_error_type="missing_action",
        custom_error_message="a turn needs one action: " + ", ".join(TURN_ACTIONS),
    ),
]


# -- calls ----------------------------------------------------------------------------------------------


class InboundCall(CallerSpeech):
    to: str = Field(description="The number called: a name from setup.numbers, or +E.164.")
    from_: str = Field(DEFAULT_CALLER, alias="from", description="The caller's number.")


class CallFlow(Strict):
    """What every kind of call shares: the greeting, the caller's turns, the checks at the end."""

    greeting: TurnExpect | None = Field(None, description="The agent's first words (turn 0).")
    turns: list[Turn] = Field(default_factory=list, description="The caller's actions, in order.")
    persona: Persona | None = Field(
        None, description="Instead of turns: a caller with a goal and facts, played by rules (or a model)."
    )
    end: Literal["hangup", "play_out"] | None = Field(
        None,
        description="After the last turn, if the call is still up: the caller hangs up, or the call "
        "plays out (until the agent, a timeout or inactivity ends it). Default: play_out when "
        "expect names a status or reason, else hangup.",
    )
    expect: CallExpectField = GOLDEN_SHORTHAND

    @model_validator(mode="after")
    def _turns_or_persona(self) -> CallFlow:
        if self.persona is not None and self.turns:
            raise ValueError("a call has turns or a persona, not both")
        return self


class InboundCallStep(CallFlow):
    call: InboundCall


class IvrSetup(Strict):
    prompt: str = "Thanks for calling. For sales, press 1. For support, press 2."
    options: dict[str, str] = Field(
        default_factory=lambda: {
            "1": "You've reached sales. This is Dana, how can I help you?",
            "2": "You've reached support. This is Sam, what can I do for you?",
        }
    )
    invalid: str = "Sorry, that is not a valid option."


class CalleeSetup(Strict):
    """Who picks up an outbound call (default: what the dialled number does; see docs/voice.md)."""

    outcome: Literal["answered", "busy", "no-answer", "voicemail", "failed", "ivr"] = "answered"
    lines: list[str] | None = Field(None, description="What the callee says, one line per agent reply.")
    hang_up: bool = Field(True, description="Hang up after the last line.")
    ring_seconds: RingSeconds = 3.0
    voicemail_greeting: str | None = None
    ivr: IvrSetup | None = None


class OutboundCall(Strict):
    agent: str = Field(description="The agent placing the call: a name from setup.agents, or an id.")
    to: str = Field(description="+E.164; the magic numbers +1NPA5550100-0105 are silent, busy ...")
    from_number: str | None = Field(
        None, description="A name from setup.numbers (default: the agent's first)."
    )
    initial_greeting: str | None = None
    system_prompt: str | None = None
    variables: dict[str, str] | None = None
    voice: str | None = None
    callee: CalleeSetup | None = None


class OutboundCallStep(Strict):
    outbound_call: OutboundCall
    greeting: TurnExpect | None = None
    limit_s: SimulatedLimit = Field(3600, description="Simulated seconds the call may run.")
    expect: CallExpectField = GOLDEN_SHORTHAND


class WebCall(CallerSpeech):
    agent: str = Field(description="A name from setup.agents, or an id.")
    join: bool = Field(True, description="Whether the browser joins (unjoined tokens expire in 30 s).")
    variables: dict[str, str] | None = None


class WebCallStep(CallFlow):
    web_call: WebCall


# -- texts, time, probes --------------------------------------------------------------------------------


class TextIn(Strict):
    to: str = Field(description="Our number: a name from setup.numbers, or +E.164.")
    from_: str = Field(DEFAULT_CALLER, alias="from")
    body: str = ""
    media_urls: list[str] = Field(default_factory=list)


class TextStep(Strict):
    text: TextIn = Field(description="Someone texts the agent's number.")
    expect: TextExpect | None = None


class TextOut(Strict):
    from_: str = Field(alias="from", description="Our number: a name from setup.numbers.")
    to: str
    body: str


class SendTextStep(Strict):
    send_text: TextOut = Field(description="The agent's account sends a text through the API.")
    expect: TextExpect | None = None


class WaitStep(Strict):
    wait: SimulatedSeconds = Field(description="Simulated seconds pass (retries and timers fire).")


class ProbeExpect(Strict):
    status: HttpStatus | list[HttpStatus] | None = Field(
        None,
        description="The status(es) the server must answer. Default: 400, 401 or 403 for a forged "
        "delivery; any 2xx for a duplicate.",
    )
    no_reply: bool | None = Field(None, description="The server did not act on it (no text sent back).")


class Probe(Strict):
    kind: ProbeKind
    to: str | None = Field(
        None, description="The number the probe's text claims to reach (default: the first)."
    )
    from_: str = Field("+14155550199", alias="from")
    body: str = "Is this thing on?"


class ProbeStep(Strict):
    probe: ProbeKind | Probe = Field(
        description="Send the webhook a forged, stale or repeated delivery, as an attacker or a "
        "network might; check how the server answers."
    )
    expect: ProbeExpect | None = None


STEP_ACTIONS = ("call", "outbound_call", "web_call", "text", "send_text", "wait", "probe")
Step = Annotated[
    Annotated[InboundCallStep, Tag("step:call")]
    | Annotated[OutboundCallStep, Tag("step:outbound_call")]
    | Annotated[WebCallStep, Tag("step:web_call")]
    | Annotated[TextStep, Tag("step:text")]
    | Annotated[SendTextStep, Tag("step:send_text")]
    | Annotated[WaitStep, Tag("step:wait")]
    | Annotated[ProbeStep, Tag("step:probe")],
    Discriminator(
        _action_of(STEP_ACTIONS),
        custom_error_type="missing_action",
        custom_error_message="a step needs one action: " + ", ".join(STEP_ACTIONS),
    ),
]


class Scenario(Strict):
    """One scenario: a name, the setup, the timeline of steps and what must hold at the end."""

    name: str = Field(min_length=1)
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    skip: str | bool = Field(False, description="Skip the scenario (a string says why).")
    runs: RunCount | None = Field(
        None,
        description="Play the scenario this many times, each on a fresh state with the same seeds, and "
        "report its pass rate (default 1, or run's --runs).",
    )
    min_pass_rate: Fraction | None = Field(
        None,
        description="With runs: the share of runs that must pass, 0 to 1 (default 1: every run).",
    )
    variables: dict[str, str | int | Annotated[float, Field(allow_inf_nan=False)] | bool] = Field(
        default_factory=dict, description="Values for {{name}} anywhere in the scenario."
    )
    setup: Setup = Field(default_factory=Setup)
    call: InboundCall | None = Field(None, description="Shorthand: the one inbound call (with turns).")
    greeting: TurnExpect | None = Field(None, description="With call: the greeting's expectations.")
    turns: list[Turn] = Field(default_factory=list, description="With call: the caller's actions.")
    persona: Persona | None = Field(None, description="With call, instead of turns: a caller with a goal.")
    call_expect: CallExpectField = Field(
        None, description="With call: how the call must end.", json_schema_extra=add_shorthand_to_schema
    )
    steps: list[Step] = Field(default_factory=list)
    expect: ScenarioExpectField = GOLDEN_SHORTHAND

    @model_validator(mode="after")
    def _has_a_timeline(self) -> Scenario:
        if self.call is None and (self.turns or self.greeting or self.call_expect or self.persona):
            raise ValueError("turns, persona, greeting and call_expect need a top-level call")
        if self.persona is not None and self.turns:
            raise ValueError("a call has turns or a persona, not both")
        if self.call is None and not self.steps:
            raise ValueError("a scenario needs steps (or a call with turns)")
        return self

    def timeline(self) -> list[tuple[tuple[str | int, ...], Any]]:
        """The steps in order, each with its path in the file (the shorthand call first)."""
        steps: list[tuple[tuple[str | int, ...], Any]] = []
        if self.call is not None:
            steps.append(
                (
                    (),
                    InboundCallStep(
                        call=self.call,
                        greeting=self.greeting,
                        turns=self.turns,
                        persona=self.persona,
                        expect=self.call_expect,
                    ),
                )
            )
        steps.extend((("steps", i), step) for i, step in enumerate(self.steps))
        return steps


def json_schema() -> dict[str, Any]:
    """The JSON Schema of one scenario document, for editors (yaml-language-server)."""
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "agentphone-emulator scenario"
    return schema
