"""Turning expectations into :class:`Check` records: one place that knows how each rule is compared,
what it says when it holds, and what it says when it does not."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..engine.agent_reply import AgentReply
from ..store.findings import Finding
from .matching import PatternTimeout, describe, text_matches
from .models import SEVERITY_RANK, FindingsExpect, TextMatch, TurnExpect, as_match
from .results import Check, Path
from .variables import substitute, substitute_all


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def heard_nothing(reply: AgentReply) -> bool:
    return not reply.text.strip() and not reply.digits and not reply.hangup and not reply.transfer


def as_findings_expect(value: Sequence[str] | FindingsExpect | None) -> FindingsExpect | None:
    if value is None or isinstance(value, FindingsExpect):
        return value
    return FindingsExpect(expect=list(value))


class Checker:
    """Collects the checks of one scenario run; ``line_of`` maps a path to its line in the file."""

    def __init__(self, line_of: Any, values: Mapping[str, str]) -> None:
        self._line_of = line_of
        self.values = values
        self.checks: list[Check] = []

    def sub(self, text: str) -> str:
        return substitute(text, self.values)

    def record(self, path: Path, what: str, passed: bool, expected: str = "", got: str = "") -> bool:
        self.checks.append(Check(path, self._line_of(path), what, passed, expected, got))
        return passed

    def fail(self, path: Path, what: str, expected: str = "", got: str = "") -> None:
        self.record(path, what, False, expected, got)

    # -- rule kinds ---------------------------------------------------------------------------------

    def text(self, path: Path, what: str, rule: str | TextMatch, got: str) -> bool:
        match = self._substituted(as_match(rule))
        try:
            passed = text_matches(match, got)
        except PatternTimeout as undecided:  # cannot be decided, so not passed
            return self.record(path, what, False, describe(match), f"{_clip(got)!r}: {undecided}")
        return self.record(path, what, passed, describe(match), repr(_clip(got)))

    def holds(self, rule: str | TextMatch, text: str) -> bool:
        """Whether ``text`` matches ``rule`` (its {{names}} filled in), without recording a check;
        a pattern that cannot be decided does not hold."""
        try:
            return text_matches(self._substituted(as_match(rule)), text)
        except PatternTimeout:
            return False

    def describe(self, rule: str | TextMatch) -> str:
        """The expected side of a check on ``rule``, its {{names}} filled in."""
        return describe(self._substituted(as_match(rule)))

    def equal(self, path: Path, what: str, expected: Any, got: Any) -> bool:
        if isinstance(expected, str):
            expected = self.sub(expected)
        return self.record(path, what, expected == got, repr(expected), repr(got))

    def at_most(self, path: Path, what: str, limit: float, got: float | None, unit: str) -> bool:
        shown = "nothing" if got is None else f"{got:.0f} {unit}" if unit == "ms" else f"{got:g} {unit}"
        return self.record(path, what, got is not None and got <= limit, f"at most {limit:g} {unit}", shown)

    def _substituted(self, rule: TextMatch) -> TextMatch:
        fields = ("equals", "contains", "any_of", "not_contains", "matches")
        return rule.model_copy(
            update={name: substitute_all(getattr(rule, name), self.values) for name in fields}
        )

    # -- findings -------------------------------------------------------------------------------------

    def findings(self, path: Path, where: str, rule: FindingsExpect, found: Iterable[Finding]) -> None:
        found = list(found)
        codes = [str(f.code) for f in found]
        for code in rule.expect:
            self.record(path, f"{where}: finding {code}", code in codes, code, ", ".join(codes) or "none")
        if rule.none_above is not None:
            allowed = set(rule.expect) | set(rule.allow)
            limit = SEVERITY_RANK[rule.none_above]
            for finding in found:
                if str(finding.code) not in allowed and SEVERITY_RANK.get(finding.severity, 2) > limit:
                    self.fail(
                        path,
                        f"{where}: no finding above {rule.none_above}",
                        f"nothing above {rule.none_above}",
                        f"{finding.code} ({finding.severity}): {finding.message}",
                    )

    # -- one reply ------------------------------------------------------------------------------------

    def turn(
        self,
        path: Path,
        where: str,
        expect: TurnExpect,
        reply: AgentReply | None,
        missing: str = "none (the call had ended)",
    ) -> None:
        """Every rule of ``expect``, written at ``path``, against ``reply`` (None: the agent never
        answered; ``missing`` says why, as the failed check's got)."""
        # Fix: this appended "expect" to ``path`` itself, right for a turn (turns[0].expect.text) but
        # not for a greeting, whose rules sit right under it (greeting.text): its failures pointed
        # at the line of "greeting:" instead of the rule's. Callers now pass the rules' own path.
        at = path
        if reply is None:
            # Fix: the got text was always "the call had ended", also for a listen while the call was
            # up and the agent quiet, or a greeting expected of an agent without one; the caller says.
            self.fail(at, f"{where}: a reply", "a reply from the agent", missing)
            return
        if expect.text is not None:
            self.text((*at, "text"), f"{where} text", expect.text, reply.text)
        if expect.interim is not None:
            interim = " ".join(c.chunk.text for c in reply.chunks if c.chunk.interim and c.chunk.text)
            self.text((*at, "interim"), f"{where} interim text", expect.interim, interim)
        if expect.interim_first is not None:
            self.equal(
                (*at, "interim_first"),
                f"{where} starts with an interim chunk",
                expect.interim_first,
                reply.first_interim,
            )
        if expect.within_ms is not None:
            self.at_most(
                (*at, "within_ms"), f"{where} first chunk", expect.within_ms, reply.first_chunk_ms, "ms"
            )
        if expect.done_within_ms is not None:
            self.at_most(
                (*at, "done_within_ms"),
                f"{where} last chunk",
                expect.done_within_ms,
                reply.last_chunk_ms,
                "ms",
            )
        if expect.chunks is not None:
            self.equal((*at, "chunks"), f"{where} chunks heard", expect.chunks, len(reply.chunks))
        if expect.chunks_sent is not None:
            self.equal((*at, "chunks_sent"), f"{where} chunks sent", expect.chunks_sent, reply.chunks_sent)
        if expect.silent is not None:
            self.equal((*at, "silent"), f"{where} is silent", expect.silent, heard_nothing(reply))
        if expect.interrupted is not None:
            self.equal(
                (*at, "interrupted"),
                f"{where} is cut by the caller",
                expect.interrupted,
                reply.state == "interrupted",
            )
        if expect.hangup is not None:
            self.equal((*at, "hangup"), f"{where} hangs up", expect.hangup, reply.hangup)
        if expect.transfer is not None:
            self.equal((*at, "transfer"), f"{where} transfers", expect.transfer, reply.transfer)
        if expect.digits is not None:
            self.equal((*at, "digits"), f"{where} presses", expect.digits, reply.digits)
        if expect.status is not None:
            self.equal((*at, "status"), f"{where} HTTP status", expect.status, reply.http_status)
        rule = as_findings_expect(expect.findings)
        if rule is not None:
            self.findings((*at, "findings"), where, rule, reply.findings)
