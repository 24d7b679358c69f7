"""Invariants: what must hold in every explored conversation, stated once per agent (the spec's
``invariants:`` block, or :class:`Invariants` in Python), checked into the first
:class:`Violation`.

The built-in ones read what the engine recorded (findings, each reply's timing, state and chunks,
how the call ended); the user's reuse the scenario language's text rules (``contains``,
``matches`` ...), and a Python predicate sees the whole :class:`~.conversation.Conversation`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..engine.agent_reply import AgentReply
from ..scenario.checker import heard_nothing
from ..scenario.matching import PatternTimeout, describe, text_matches
from ..scenario.models import SEVERITY_RANK, TextMatch, as_match
from ..store.findings import FindingCode
from .conversation import Conversation
from .plan import Interrupt, Say
from .spec import AfterRule, InvariantSpec

PROPER_ENDS = ("user_hangup", "agent_hangup", "call_transfer")
Predicate = Callable[[Conversation], bool | str | None]
"""A Python invariant: True or None when it holds; False, or a string saying what went wrong, when not."""


@dataclass(frozen=True, slots=True)
class Violation:
    """An invariant a conversation broke: which, where, and what was expected against what was got."""

    invariant: str
    """The invariant's name: ``no_error_findings``, ``first_chunk_within_ms``, ``rules[0]`` ..."""
    turn: int | None
    """The action it broke at, from 1; 0 for the greeting; None for the call as a whole."""
    expected: str
    got: str
    detail: Any = None
    """What the scenario writer needs: the limit, the rule, the reply's chunk count ..."""

    def describe(self) -> str:
        where = "the call" if self.turn is None else "the greeting" if self.turn == 0 else f"turn {self.turn}"
        return f"{self.invariant} at {where}: expected {self.expected}; got {self.got}"


@dataclass
class Invariants:
    """The invariants of one agent. ``Invariants.of(spec.invariants)`` from YAML, or in Python::

        Invariants(first_chunk_within_ms=500, every_reply={"not_contains": "undefined"},
                   rules=[{"after": {"contains": "human"}, "transfers": True}])

    plus predicates over the whole conversation (:meth:`predicate`).
    """

    spec: InvariantSpec = field(default_factory=InvariantSpec)
    predicates: list[tuple[str, Predicate]] = field(default_factory=list)

    def __init__(
        self,
        spec: InvariantSpec | None = None,
        *,
        predicates: list[tuple[str, Predicate]] | None = None,
        **fields: Any,
    ) -> None:
        if spec is not None and fields:
            raise TypeError("give an InvariantSpec or its fields, not both")
        self.spec = spec if spec is not None else InvariantSpec.model_validate(fields)
        self.predicates = list(predicates or [])

    @classmethod
    def of(cls, spec: InvariantSpec) -> Invariants:
        return cls(spec)

    def predicate(self, name: str) -> Callable[[Predicate], Predicate]:
        """Decorator: ``@invariants.predicate("asks for the order number")`` adds a Python invariant."""

        def add(function: Predicate) -> Predicate:
            self.predicates.append((name, function))
            return function

        return add

    def check(self, conversation: Conversation) -> Violation | None:
        """The first invariant ``conversation`` breaks, in the order the spec lists them; None if all hold."""
        return next(self.violations(conversation), None)

    def violations(self, conversation: Conversation) -> Iterator[Violation]:
        spec = self.spec
        if spec.no_error_findings:
            yield from _error_findings(conversation)
        if spec.first_chunk_within_ms is not None:
            yield from _slow(conversation, spec.first_chunk_within_ms)
        if spec.never_silent_twice:
            yield from _silent_twice(conversation)
        if spec.no_markup:
            yield from _markup(conversation)
        if spec.ends_properly:
            yield from _ending(conversation)
        if spec.nothing_after_hangup:
            yield from _after_hangup(conversation)
        if spec.every_reply is not None:
            yield from _every_reply(conversation, as_match(spec.every_reply))
        for index, rule in enumerate(spec.rules):
            yield from _rule(conversation, f"rules[{index}]", rule)
        for name, function in self.predicates:
            verdict = function(conversation)
            if verdict is False or isinstance(verdict, str):
                got = verdict if isinstance(verdict, str) else "it returned False"
                yield Violation(f"predicate {name!r}", None, "the predicate holds", got)


# -- the built-in ones ------------------------------------------------------------------------------


def _turn_of(conversation: Conversation, turn_number: int | None) -> int | None:
    """The plan's action whose reply is the call's turn ``turn_number`` (0: the greeting)."""
    if turn_number is None:
        return None
    if turn_number == 0:
        return 0
    for exchange in conversation.exchanges:
        if exchange.reply is not None and exchange.reply.turn == turn_number:
            return exchange.index
    return None


def _error_findings(conversation: Conversation) -> Iterator[Violation]:
    for finding in conversation.findings:
        if SEVERITY_RANK.get(finding.severity, 2) >= SEVERITY_RANK["error"]:
            yield Violation(
                "no_error_findings",
                _turn_of(conversation, finding.turn),
                "no error finding",
                f"{finding.code}: {finding.message}",
                detail=str(finding.code),
            )


def _slow(conversation: Conversation, limit_ms: float) -> Iterator[Violation]:
    for exchange in conversation.replies:
        first = exchange.reply.first_chunk_ms if exchange.reply else None
        if first is not None and first > limit_ms:
            yield Violation(
                "first_chunk_within_ms",
                exchange.index,
                f"the first chunk within {limit_ms:g} ms",
                f"{first:.0f} ms",
                detail=limit_ms,
            )


def _silent(reply: AgentReply) -> bool:
    """The agent said and did nothing, and not because the caller cut it off first."""
    return reply.state != "interrupted" and heard_nothing(reply)


def _silent_twice(conversation: Conversation) -> Iterator[Violation]:
    previous: AgentReply | None = None
    for exchange in conversation.replies:
        assert exchange.reply is not None
        if previous is not None and _silent(previous) and _silent(exchange.reply):
            yield Violation(
                "never_silent_twice",
                exchange.index,
                "a reply with words or an action (the one before was silent too)",
                f"silence again ({exchange.reply.state})",
            )
        previous = exchange.reply


def _markup(conversation: Conversation) -> Iterator[Violation]:
    for exchange in conversation.replies:
        assert exchange.reply is not None
        for finding in exchange.reply.findings:
            if finding.code == FindingCode.VOICE_MARKUP_IN_TEXT:
                yield Violation("no_markup", exchange.index, "no markup in the reply", finding.message)


def _ending(conversation: Conversation) -> Iterator[Violation]:
    reason = conversation.call.disconnection_reason
    if reason not in PROPER_ENDS:
        yield Violation(
            "ends_properly",
            None,
            "the call ends by a hangup or a transfer",
            f"it ended {conversation.call.status}, {reason or 'no reason'}",
        )


def _acts(chunk: Any) -> bool:
    return bool(chunk.text or chunk.digits or chunk.hangup or chunk.transfer)


def _after_hangup(conversation: Conversation) -> Iterator[Violation]:
    for exchange in conversation.replies:
        for position, chunk in enumerate(exchange.sent):
            if chunk.hangup or chunk.transfer:
                later = [c for c in exchange.sent[position + 1 :] if _acts(c)]
                if later:
                    what = "hang-up" if chunk.hangup else "transfer"
                    said = later[0].text or (f"digits {later[0].digits}" if later[0].digits else "an action")
                    yield Violation(
                        "nothing_after_hangup",
                        exchange.index,
                        f"nothing after the {what} (chunk {position + 1})",
                        f"{len(later)} more chunk(s): {said!r}",
                        detail=position + 1,
                    )
                break


def _matches(rule: TextMatch, text: str) -> bool:
    try:
        return text_matches(rule, text)
    except PatternTimeout:
        return False  # undecided is not kept


def _every_reply(conversation: Conversation, rule: TextMatch) -> Iterator[Violation]:
    heard: list[tuple[int, AgentReply]] = []
    if conversation.greeting is not None:
        heard.append((0, conversation.greeting))
    heard += [(e.index, e.reply) for e in conversation.replies if e.reply is not None]
    for index, reply in heard:
        if reply.state == "done" and not _matches(rule, reply.text):
            yield Violation("every_reply", index, describe(rule), repr(reply.text), detail=rule)


def _rule(conversation: Conversation, name: str, rule: AfterRule) -> Iterator[Violation]:
    said_rule = as_match(rule.after)
    replies = conversation.replies
    for position, exchange in enumerate(replies):
        action = exchange.action
        if not isinstance(action, Say | Interrupt) or not _matches(said_rule, action.text):
            continue
        window = replies[position : position + rule.within]
        if any(e.reply is not None and _satisfies(rule, e.reply) for e in window):
            continue
        cut = any(e.reply is not None and e.reply.state == "interrupted" for e in window)
        ended_by_agent = conversation.call.disconnection_reason in ("agent_hangup", "call_transfer")
        if cut or (len(window) < rule.within and not ended_by_agent):
            continue  # the caller cut a reply or left before the agent had its turns: not its fault
        yield Violation(
            name,
            exchange.index,
            f"after the caller says {describe(said_rule)}, within {rule.within} repl"
            f"{'y' if rule.within == 1 else 'ies'}: {_outcome(rule)}",
            "; ".join(_got(e.reply) for e in window if e.reply is not None) or "no reply",
            detail=rule,
        )


def _satisfies(rule: AfterRule, reply: AgentReply) -> bool:
    if rule.says is not None:
        return _matches(as_match(rule.says), reply.text)
    if rule.transfers:
        return reply.transfer
    return reply.digits == rule.presses


def _outcome(rule: AfterRule) -> str:
    if rule.says is not None:
        return f"a reply that {describe(as_match(rule.says))}"
    if rule.transfers:
        return "a transfer"
    return f"the agent presses {rule.presses}"


def _got(reply: AgentReply) -> str:
    marks = [m for m, on in (("transfers", reply.transfer), ("hangs up", reply.hangup)) if on]
    if reply.digits:
        marks.append(f"presses {reply.digits}")
    return repr(reply.text) + (f" ({', '.join(marks)})" if marks else "")
