"""Golden conversations: what a scenario run said and did, made stable and written down.

A golden is built from a :class:`~.results.ScenarioResult` alone (the CLI and the pytest plugin both
have one): every line of the conversation with its chunks, actions, state, findings and timings,
after the normalisers have replaced what changes from run to run (ids, timestamps, phone numbers,
the scenario's own patterns) with numbered placeholders. It is stored beside the scenario as
``__goldens__/<file stem>.<scenario slug>.golden.yaml``: one file per scenario, one conversation per
``expect: golden`` in it (``scenario`` for the whole scenario, or the call step's path).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import regex
import yaml
from pydantic import TypeAdapter, ValidationError

from .golden_models import (
    DEFAULT_TOLERANCE_MS,
    GOLDEN_DIR,
    GoldenChunk,
    GoldenEntry,
    GoldenFile,
    GoldenOptions,
    golden_options,
)
from .golden_models import Normaliser as NormaliserRule
from .models import CallFlow, OutboundCallStep, Scenario
from .report import visible
from .results import ScenarioResult, TranscriptLine, action_marks, format_path

SUFFIX = ".golden.yaml"
SHARED_NORMALISERS = "normalise.yaml"  # in a __goldens__ folder: patterns every golden there uses
SCENARIO_PART = "scenario"
SHORTHAND_PART = "call"
PATTERN_TIMEOUT_S = 1.0
HEADER = (
    "# The golden conversation of {id}\n"
    "# Written by agentphone-emulator: compared on every run, rewritten by `run --update-goldens`\n"
    "# (pytest: --snapshot-update). Placeholders such as <call_1> stand for what changes per run.\n"
)

# What changes from one run to the next, whatever the agent: each distinct value becomes a numbered
# placeholder (the same value the same placeholder), so a reply that names the call it is on still
# matches, and one that names a different call does not.
_ID = re.compile(r"\b([a-z]{2,8})_[0-9a-f]{8,}\b")
_TIMESTAMP = re.compile(
    r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?(?![\w:])"
)
_PHONE = re.compile(r"\+\d{8,15}\b|(?:\(\d{3}\)|\b\d{3})[-.\s]\d{3}[-.\s]\d{4}\b")


_RULES = TypeAdapter(list[NormaliserRule])


class GoldenFileError(Exception):
    """A golden file that cannot be read: one line naming the file and what is wrong."""


@dataclass(frozen=True, slots=True)
class GoldenPart:
    """One ``expect: golden`` of a scenario: the conversation's key, the call it covers (None: the
    whole scenario) and its options."""

    key: str
    call_path: tuple[str | int, ...] | None
    options: GoldenOptions


def golden_parts(scenario: Scenario) -> list[GoldenPart]:
    """Every conversation the scenario wants compared, in the order they happen."""
    parts: list[GoldenPart] = []
    for path, step in scenario.timeline():
        expect = step.expect if isinstance(step, CallFlow | OutboundCallStep) else None
        options = golden_options(expect.golden) if expect is not None else None
        if options is not None:
            parts.append(GoldenPart(format_path(path) or SHORTHAND_PART, path, options))
    scenario_options = golden_options(scenario.expect.golden) if scenario.expect is not None else None
    if scenario_options is not None:
        parts.append(GoldenPart(SCENARIO_PART, None, scenario_options))
    return parts


def golden_path(scenario_file: str | Path, scenario_name: str) -> Path:
    """``scenarios/orders.yaml`` and ``order status`` -> ``scenarios/__goldens__/orders.order-status.golden.yaml``
    (``hours.scenario.yaml`` -> ``hours.<slug>.golden.yaml``)."""
    file = Path(scenario_file)
    stem = file.name.removesuffix(".yaml").removesuffix(".yml").removesuffix(".scenario") or file.name
    return file.parent / GOLDEN_DIR / f"{stem}.{slug(scenario_name)}{SUFFIX}"


def slug(name: str) -> str:
    """A scenario name as a file name: lower case words joined by ``-`` (at most 80 characters)."""
    words = re.findall(r"[a-z0-9]+", name.lower())
    return "-".join(words)[:80].strip("-") or "scenario"


# -- normalising --------------------------------------------------------------------------------------


class Normaliser:
    """Replaces run-dependent text with placeholders, numbering each distinct value in order of
    appearance: one instance per golden, so the numbering spans its conversations."""

    def __init__(self, options: Iterable[GoldenOptions] = ()) -> None:
        self.user = [(regex.compile(n.pattern), n.replace) for o in options for n in o.normalise]
        self.seen: dict[tuple[str, str], str] = {}
        self.counts: dict[str, int] = {}

    def _numbered(self, kind: str, value: str) -> str:
        key = (kind, value)
        if key not in self.seen:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            self.seen[key] = f"<{kind}_{self.counts[kind]}>"
        return self.seen[key]

    def __call__(self, text: str) -> str:
        for pattern, placeholder in self.user:
            try:
                text = pattern.sub(_literal(placeholder), text, timeout=PATTERN_TIMEOUT_S)
            except TimeoutError:
                text = f"{text} <normaliser {pattern.pattern!r} timed out>"
        text = _ID.sub(lambda m: self._numbered(m.group(1), m.group(0)), text)
        text = _TIMESTAMP.sub("<timestamp>", text)
        return _PHONE.sub(lambda m: self._numbered("phone", m.group(0)), text)


def _literal(placeholder: str) -> Callable[[Any], str]:
    """A replacement taken as written (``\\1`` in a placeholder is not a back-reference)."""
    return lambda _: placeholder


def shared_normalisers(folder: Path) -> list[NormaliserRule]:
    """The patterns of ``<folder>/normalise.yaml`` (every golden of that folder uses them): a YAML
    list of ``{pattern, replace}``; none when there is no such file; :class:`GoldenFileError` when
    it is not such a list."""
    path = folder / SHARED_NORMALISERS
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise GoldenFileError(f"{path}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise GoldenFileError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    try:
        return _RULES.validate_python(data or [])
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        expected = "a list of {pattern, replace}"
        raise GoldenFileError(f"{path}: {where + ': ' if where else ''}{error['msg']} ({expected})") from None


# -- building a golden from a result ---------------------------------------------------------------------


def build_golden(
    result: ScenarioResult, parts: Sequence[GoldenPart], shared: Sequence[NormaliserRule] = ()
) -> GoldenFile:
    """The golden of ``result`` for ``parts`` (normalised: the scenario's own patterns, then the
    ``shared`` ones of its goldens folder, then ids, timestamps and numbers; timings rounded: ms to
    1, seconds to 0.1)."""
    normalise = Normaliser([*(part.options for part in parts), GoldenOptions(normalise=list(shared))])
    golden = GoldenFile(
        scenario=result.name,
        file=Path(result.file).name,
        tolerance_ms=min((part.options.tolerance_ms for part in parts), default=DEFAULT_TOLERANCE_MS),
    )
    for part in parts:
        call_id = None if part.call_path is None else result.calls.get(part.call_path)
        lines = [line for line in result.transcript if part.call_path is None or line.call_id == call_id]
        golden.conversations[part.key] = [_entry(line, normalise) for line in lines]
        findings = [f for f in result.findings if part.call_path is None or f.call_id == call_id]
        golden.findings[part.key] = [f"{f.code} ({f.severity})" for f in findings]
    return golden


def _entry(line: TranscriptLine, normalise: Normaliser) -> GoldenEntry:
    marks = action_marks(line.actions)
    text = line.text[: len(line.text) - len(marks)] if marks and line.text.endswith(marks) else line.text
    entry = GoldenEntry(
        at=round(line.at_s, 1), who=line.speaker, label=normalise(line.label), text=normalise(text)
    )
    if len(line.chunks) > 1 or any(interim for _, interim in line.chunks):
        entry.chunks = [
            GoldenChunk(text=normalise(chunk), interim=True) if interim else normalise(chunk)
            for chunk, interim in line.chunks
        ]
    entry.actions = list(line.actions) or None
    entry.state = line.state if line.state not in (None, "done") else None
    if line.speaker == "agent":
        entry.first_ms = _ms(line.first_chunk_ms)
        entry.last_ms = _ms(line.last_chunk_ms)
    entry.findings = list(line.findings) or None
    return entry


def _ms(value: float | None) -> float | None:
    return None if value is None else float(round(value))


# -- the file ---------------------------------------------------------------------------------------------


def golden_yaml(golden: GoldenFile, scenario_id: str) -> str:
    """The golden as readable YAML: block style, keys in the model's order, unset keys left out."""
    data = _whole_numbers(golden.model_dump(exclude_none=True, exclude_defaults=False))
    for entries in data["conversations"].values():
        for entry in entries:
            for key in ("label", "text"):
                if entry.get(key) == "":
                    del entry[key]
            for index, chunk in enumerate(entry.get("chunks", [])):
                if isinstance(chunk, dict) and not chunk.get("interim"):
                    entry["chunks"][index] = chunk["text"]
    body = yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100, default_flow_style=False
    )
    # A comment is read as it is: a control character in a scenario's name would make the file
    # unreadable YAML, so the header shows it escaped (the `scenario` value has YAML's own escapes).
    return HEADER.format(id=visible(scenario_id)) + body


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper, but a text with a character YAML reads as a line break (NEL, U+2028,
    U+2029) is written double-quoted, where it is escaped: plain or single-quoted, it is read back
    as a space or a newline, and the golden would never match its own run."""


_BREAKS = ("\x85", "\u2028", "\u2029")


def _text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = '"' if any(mark in text for mark in _BREAKS) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _text)


def _whole_numbers(value: Any) -> Any:
    """``250.0`` as ``250``: milliseconds read better without a decimal that is always 0."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(item) for item in value]
    return value


def read_golden(path: Path) -> GoldenFile | None:
    """The golden at ``path``; None when there is none yet; :class:`GoldenFileError` when it is not
    a golden file (edited by hand, or half merged)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise GoldenFileError(f"{path}: cannot read the golden file: {exc}") from None
    return parse_golden(text, str(path))


def parse_golden(text: str, source: str) -> GoldenFile:
    """A golden file's text as a :class:`GoldenFile`; :class:`GoldenFileError` naming ``source``."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise GoldenFileError(f"{source}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    try:
        return GoldenFile.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "the file"
        raise GoldenFileError(f"{source}: not a golden file: {where}: {error['msg']}") from None


def write_golden(path: Path, golden: GoldenFile, scenario_id: str) -> None:
    from .report_files import write_atomic

    write_atomic(path, golden_yaml(golden, scenario_id))
