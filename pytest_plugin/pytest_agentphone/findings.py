"""Asserting on findings (the user's server breaking the platform's contract), and the rule the
``emulator`` fixtures apply at teardown: an error finding whose code the test never named fails it.

A test names a code by asserting it (:func:`assert_findings`), allowing it
(``assert_no_findings(..., allow=[...])``) or marking the test
(``@pytest.mark.agentphone_allow_findings("voice_slow_first_chunk")``). This is the scenario
runner's rule too, so a finding fails a YAML scenario and a Python test alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from agentphone_emulator import Emulator
from agentphone_emulator.call_handle import CallHandle
from agentphone_emulator.scenario.models import SEVERITY_RANK
from agentphone_emulator.scenario.report import finding_text
from agentphone_emulator.scenario.results import FindingLine
from agentphone_emulator.store.findings import Finding, FindingCode

from .ledger import name_codes

FindingSource = Any
"""The emulator (its account's findings), a call (its own), an agent from make_agent (its own), or a
list of findings."""
KNOWN_CODES = frozenset(str(code) for code in FindingCode)


def findings_of(source: FindingSource) -> list[Finding]:
    if isinstance(source, CallHandle):
        return source.findings
    if isinstance(source, Emulator) or callable(getattr(source, "findings", None)):
        return list(source.findings())  # the emulator, or an agent from make_agent
    return list(source)


def describe(findings: Sequence[Finding], named: Iterable[str] = ()) -> str:
    """Each finding as the scenario report shows it: code, severity, where, message, bytes."""
    allowed = set(named)
    return "\n".join(finding_text(FindingLine.of(f, allowed=str(f.code) in allowed)) for f in findings)


def check_codes(codes: Iterable[str]) -> list[str]:
    """The codes as text; ValueError naming the first that is no finding code."""
    codes = [str(code) for code in codes]
    unknown = [code for code in codes if code not in KNOWN_CODES]
    if unknown:
        raise ValueError(
            f"unknown finding code {unknown[0]!r}; the codes are: {', '.join(sorted(KNOWN_CODES))}"
        )
    return codes


def assert_findings(source: FindingSource, *codes: str) -> list[Finding]:
    """Assert that each of ``codes`` was found (at least once); returns the matching findings.

    Naming a code here also tells the teardown check that the test expected it.

    Args:
        source: The emulator (the account's findings), a call (its own), an agent from
            ``make_agent`` (its own) or a list of findings.
        *codes: Finding codes (``"webhook_timeout"`` or ``FindingCode.WEBHOOK_TIMEOUT``).

    Returns:
        The findings with those codes.

    Raises:
        AssertionError: A code was not found (the message lists what was).
        ValueError: No code given, or one that is no finding code.
    """
    if not codes:
        raise ValueError("assert_findings() needs at least one code; use assert_no_findings() for none")
    wanted = check_codes(codes)
    name_codes(wanted)
    found = findings_of(source)
    missing = [code for code in wanted if all(str(f.code) != code for f in found)]
    if missing:
        got = describe(found) if found else "no findings"
        raise AssertionError(f"expected finding {', '.join(missing)}; got:\n{got}")
    return [f for f in found if str(f.code) in wanted]


def assert_no_findings(
    source: FindingSource, *, allow: Iterable[str] = (), severity: str = "warning"
) -> None:
    """Assert that nothing at ``severity`` or above was found, apart from the ``allow`` codes.

    The default, ``warning``, is the strict reading: the platform would have played the reply, but
    the server did something the docs tell it not to (a slow first chunk, markup in speech).

    Args:
        source: The emulator (the account's findings), a call (its own), an agent from
            ``make_agent`` (its own) or a list of findings.
        allow: Codes that may be there (and that the teardown check will then not fail).
        severity: The lowest severity that counts: ``info``, ``warning`` or ``error``.

    Raises:
        AssertionError: Something was found (the message lists it).
        ValueError: An unknown severity, or an ``allow`` code that is no finding code.
    """
    if severity not in SEVERITY_RANK:
        raise ValueError(f"severity must be one of {', '.join(SEVERITY_RANK)}, got {severity!r}")
    allowed = check_codes(allow)
    name_codes(allowed)
    found = [
        f
        for f in findings_of(source)
        if SEVERITY_RANK.get(f.severity, 2) >= SEVERITY_RANK[severity] and str(f.code) not in allowed
    ]
    if found:
        noun = "finding" if len(found) == 1 else "findings"
        raise AssertionError(f"expected no findings, got {len(found)} {noun}:\n{describe(found)}")


def unexpected(findings: Sequence[Finding], named: Iterable[str], severity: str) -> list[Finding]:
    """The findings the teardown check fails a test for."""
    names = set(named)
    floor = SEVERITY_RANK[severity]
    return [f for f in findings if SEVERITY_RANK.get(f.severity, 2) >= floor and str(f.code) not in names]
