"""The run as files for machines: the JSON report and JUnit XML for CI.

Both are written atomically (a temporary file beside the target, then ``os.replace``) so a CI step
reading the file never sees half of it; ``-`` writes to standard output instead.

Scenario text is untrusted (agent replies, offending bytes decoded with replacement or surrogate
escapes), so neither writer may fail on it: the JSON writer turns lone surrogates into ``\\uXXXX``
escapes, the JUnit writer drops every character XML 1.0 cannot hold.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from .golden_report import golden_text
from .report import check_text, finding_text, transcript_text, visible
from .results import RunResult, ScenarioResult

SUITE_NAME = "agentphone-emulator scenarios"
MESSAGE_LIMIT = 300  # a message attribute is a one-line summary in CI UIs; the element text has it all
# Everything outside XML 1.0's Char production: C0 controls but \t \n \r, lone surrogates, U+FFFE/F.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def write_json(run: RunResult, path: str | Path) -> None:
    """Write ``run.to_dict()`` as indented UTF-8 JSON to ``path`` (``-``: standard output)."""
    _write(json_text(run), path)


def json_text(run: RunResult) -> str:
    """The JSON report. Lone surrogates (bytes kept by ``surrogateescape``) cannot be encoded as
    UTF-8; written as ``\\udc80`` escapes they stay valid JSON and read back as the same string."""
    text = json.dumps(run.to_dict(), indent=2, ensure_ascii=False) + "\n"
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def write_junit(run: RunResult, path: str | Path) -> None:
    """Write :func:`junit_xml` to ``path`` (``-``: standard output)."""
    _write(junit_xml(run), path)


def junit_xml(run: RunResult) -> str:
    """The run as JUnit XML, the dialect GitHub, GitLab and Jenkins read: one testsuite, one
    testcase per scenario with a failure, error or skipped element and the transcript in
    system-out."""
    counts = run.counts
    wall = run.wall_s or sum(result.wall_s for result in run.results)
    attrs = {
        "tests": str(len(run.results)),
        "failures": str(counts["failed"]),
        "errors": str(counts["error"]),
        "skipped": str(counts["skipped"]),
        "time": f"{wall:.3f}",
    }
    root = ET.Element("testsuites", _clean_attrs({"name": SUITE_NAME, **attrs}))
    suite = ET.SubElement(root, "testsuite", _clean_attrs({"name": SUITE_NAME, **attrs}))
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", _clean_attrs({"name": "target", "value": run.target}))
    for result in run.results:
        suite.append(testcase(result))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def testcase(result: ScenarioResult) -> ET.Element:
    """One scenario's ``<testcase>``.

    A scenario played several times (``runs:``) is still one testcase, judged as the exit status
    judges it, so CI's counts of tests and failures match the run's: one testcase per run would show
    a tolerated flake (``min_pass_rate: 0.8``) as red failures in a green build. The runs go in the
    testcase's ``<properties>`` (runs, passed, pass_rate, min_pass_rate, flaky) and each run that
    did not pass as Maven Surefire's rerun elements, which Jenkins' JUnit plugin shows as flaky:
    ``<flakyFailure>`` when the scenario passed anyway, ``<rerunFailure>`` when it failed."""
    case = ET.Element(
        "testcase",
        _clean_attrs(
            {
                "classname": classname(result.file),
                "name": result.name,
                "file": result.file,
                "line": str(result.line),
                "time": f"{result.wall_s:.3f}",
            }
        ),
    )
    if result.repeats is not None:
        _runs(case, result)
    if result.outcome == "failed":
        _child(case, "failure", _failure_message(result), "expectation", _failure_text(result))
    elif result.outcome == "error":
        error = result.error or "the scenario could not run to its end"
        _child(case, "error", error.strip().split("\n")[0], "error", _join(error, _transcript(result)))
    elif result.outcome == "skipped":
        ET.SubElement(case, "skipped", _clean_attrs({"message": _clip(result.skip_reason or "skipped")}))
    out = _join(_transcript(result), _findings(result))
    if out:
        ET.SubElement(case, "system-out").text = clean_xml(out)
    if result.log:
        ET.SubElement(case, "system-err").text = clean_xml("\n".join(result.log))
    return case


def _runs(case: ET.Element, result: ScenarioResult) -> None:
    repeats = result.repeats
    assert repeats is not None
    properties = ET.SubElement(case, "properties")
    for name, value in (
        ("runs", str(repeats.count)),
        ("passed", str(repeats.passed)),
        ("pass_rate", f"{repeats.pass_rate:.4g}"),
        ("min_pass_rate", f"{repeats.min_pass_rate:.4g}"),
        ("flaky", "true" if repeats.flaky else "false"),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": value})
    tag = "flakyFailure" if result.outcome == "passed" else "rerunFailure"
    for run in repeats.runs:
        if run.outcome != "passed":
            reason = run.reason or run.outcome
            kind = "error" if run.outcome == "error" else "expectation"
            _child(
                case,
                tag,
                f"run {run.number}: {reason}",
                kind,
                f"run {run.number} of {repeats.count}: {reason}",
            )


def classname(file: str) -> str:
    """``scenarios/orders.yaml`` -> ``scenarios.orders``: CI groups test cases by it like modules."""
    parts = [part for part in file.replace("\\", "/").split("/") if part not in ("", ".")]
    if not parts:
        return "scenarios"
    stem, dot, _ = parts[-1].rpartition(".")
    parts[-1] = stem if dot and stem else parts[-1]
    return ".".join(parts)


def clean_xml(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot hold, so the file always parses."""
    return _NOT_XML.sub("", text)


def _failure_message(result: ScenarioResult) -> str:
    # A scenario can fail on a finding it did not allow rather than on a check.
    if result.failures:
        return result.failures[0].what or "expectation failed"
    unexpected = [finding for finding in result.findings if not finding.allowed]
    if unexpected:
        return f"{unexpected[0].code}: {unexpected[0].message}"
    return "scenario failed"


def _failure_text(result: ScenarioResult) -> str:
    checks = "\n\n".join(check_text(result, check) for check in result.failures)
    return _join(checks, golden_text(result), _transcript(result))


def _transcript(result: ScenarioResult) -> str:
    return f"transcript:\n{transcript_text(result)}" if result.transcript else ""


def _findings(result: ScenarioResult) -> str:
    if not result.findings:
        return ""
    return "findings:\n" + "\n".join(finding_text(finding) for finding in result.findings)


def _join(*blocks: str) -> str:
    return "\n\n".join(block for block in blocks if block)


def _child(parent: ET.Element, tag: str, message: str, kind: str, text: str) -> None:
    element = ET.SubElement(parent, tag, _clean_attrs({"message": _clip(message), "type": kind}))
    element.text = clean_xml(text)


def _clip(message: str) -> str:
    message = visible(message)  # one line: a newline in an attribute is folded to a space anyway
    return message if len(message) <= MESSAGE_LIMIT else message[: MESSAGE_LIMIT - 1] + "…"


def _clean_attrs(attrs: dict[str, str]) -> dict[str, str]:
    return {key: clean_xml(value) for key, value in attrs.items()}


def _write(text: str, path: str | Path) -> None:
    if str(path) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    write_atomic(Path(path), text)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` as UTF-8 to ``path`` through a temporary file in the same directory (so
    ``os.replace`` is a rename on one file system), creating the directory if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, 0o644)  # mkstemp makes it 0600; a report is for CI and colleagues to read
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
