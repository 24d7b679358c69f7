"""A shrunk failing conversation written as a scenario file (the language ``run`` and the pytest
plugin read): the spec's setup, the call with the plan's actions as its turns, and the invariant
that broke as an expectation at the turn where it broke, so the file fails the same way under
``agentphone-emulator run`` and as a collected ``*.scenario.yaml`` test.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ..scenario.models import TextMatch, as_match
from .conversation import Conversation
from .invariants import Violation
from .spec import AfterRule, ExploreSpec


def _rule(value: str | TextMatch) -> Any:
    if isinstance(value, str):
        return value
    return value.model_dump(exclude_none=True, exclude_defaults=True)


def scenario_data(
    spec: ExploreSpec, conversation: Conversation, violation: Violation, *, errors_allowed: bool = False
) -> tuple[dict[str, Any], bool]:
    """The scenario as data, and whether ``run`` can check the violation (a Python predicate cannot
    be written in YAML: its scenario replays the call and checks the rest)."""
    turns: list[dict[str, Any]] = [action.yaml() for action in conversation.plan.actions]
    step: dict[str, Any] = {"call": {"to": spec.call.to, "from": spec.call.from_}}
    call_expect: dict[str, Any] = {}
    checkable = True
    kind = violation.invariant
    at = violation.turn

    def expect_at(key: str, value: Any) -> None:
        if at == 0:
            step.setdefault("greeting", {})[key] = value
        elif at is not None:
            turns[at - 1].setdefault("expect", {})[key] = value

    if kind == "first_chunk_within_ms":
        expect_at("within_ms", violation.detail)
    elif kind == "never_silent_twice":
        expect_at("silent", False)
    elif kind == "no_markup":
        expect_at("findings", {"none_above": "info"})
    elif kind == "nothing_after_hangup":
        expect_at("chunks_sent", violation.detail)
    elif kind == "every_reply":
        expect_at("text", _rule(violation.detail))
    elif kind == "ends_properly":
        call_expect["reason"] = "user_hangup"
    elif kind.startswith("rules["):
        rule: AfterRule = violation.detail
        if rule.says is not None:
            expect_at("text", _rule(as_match(rule.says)))
        elif rule.transfers:
            expect_at("transfer", True)
        else:
            expect_at("digits", rule.presses)
    elif kind.startswith("predicate"):
        checkable = False
    step["turns"] = turns
    step["end"] = "hangup"
    if call_expect:
        step["expect"] = call_expect
    setup = spec.setup.model_dump(by_alias=True, exclude_unset=True, mode="json")
    data: dict[str, Any] = {
        "name": f"{spec.name}: {kind} (explored)",
        "description": violation.describe(),
        "tags": ["explored"],
    }
    if setup:
        data["setup"] = setup
    data["steps"] = [step]
    # no_error_findings is the scenario's default rule (errors fail, warnings are reported); a spec
    # that turned it off must not have its scenario fail on errors it accepted.
    data["expect"] = {"findings": {"none_above": "error" if errors_allowed else "warning"}}
    return data, checkable


def scenario_yaml(
    spec: ExploreSpec,
    conversation: Conversation,
    violation: Violation,
    *,
    seed: int | None = None,
    spec_file: str | None = None,
) -> tuple[str, bool]:
    """The scenario file's text, and whether ``run`` checks the broken invariant."""
    data, checkable = scenario_data(
        spec, conversation, violation, errors_allowed=not spec.invariants.no_error_findings
    )
    header = [
        "# Found by agentphone-emulator explore"
        + (f" from {spec_file}" if spec_file else "")
        + (f" (seed {seed})" if seed is not None else "")
        + ", shrunk to the shortest call that breaks:",
        f"#   {_one_line(violation.describe())}",
    ]
    if violation.invariant.startswith("rules[") and violation.detail.within > 1:
        header.append(
            f"# The rule allows {violation.detail.within} replies; this scenario asks it of the first "
            "reply after the caller's words (the shrunk call gives the agent no other)."
        )
    if not checkable:
        header.append(
            "# A Python predicate broke: YAML cannot state it, so this scenario replays the call; "
            "check the predicate on it in pytest."
        )
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(header) + "\n" + body, checkable


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def file_name(spec: ExploreSpec, violation: Violation) -> str:
    """``acme-support-first-chunk-within-ms.scenario.yaml``."""
    slug = re.sub(r"[^a-z0-9]+", "-", f"{spec.name} {violation.invariant}".lower()).strip("-")
    return f"{slug[:80] or 'explored'}.scenario.yaml"
