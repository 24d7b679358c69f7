"""A conversation against its golden file: what changed, each change of one kind.

``words`` (what was said), ``chunks`` (the same words split or flagged differently), ``actions``
(hangup, transfer, keys, a cut), ``findings``, ``timing`` (a moment or a latency that moved by more
than the tolerance), ``added`` / ``removed`` lines, and ``missing`` (no golden yet). Drift within
the tolerance is no change at all. Lines are aligned by speaker and label first, so one extra turn
shows as one added line, not as every later line changed.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Sequence
from typing import Literal

from .golden_models import GoldenChunk, GoldenEntry, GoldenFile
from .goldens import (
    GoldenFileError,
    build_golden,
    golden_parts,
    golden_path,
    read_golden,
    shared_normalisers,
    write_golden,
)
from .loader import LoadedScenario
from .report import sim_clock, visible
from .results import Check, GoldenChange, ScenarioResult

GoldenMode = Literal["check", "update", "off"]


def compare_golden(expected: GoldenFile, actual: GoldenFile) -> list[GoldenChange]:
    """Every change from ``expected`` (the file) to ``actual`` (this run), with ``actual``'s tolerance."""
    tolerance = actual.tolerance_ms
    changes: list[GoldenChange] = []
    for key, entries in actual.conversations.items():
        if key not in expected.conversations:
            changes.append(GoldenChange(key, "missing", key))
            continue
        changes += _compare_entries(key, expected.conversations[key], entries, tolerance)
        before, after = expected.findings.get(key, []), actual.findings.get(key, [])
        gone = list((Counter(before) - Counter(after)).elements())  # counted: twice is not once
        new = list((Counter(after) - Counter(before)).elements())
        if gone or new:
            changes.append(
                GoldenChange(
                    key,
                    "findings",
                    f"{key} findings",
                    ", ".join(before) or "none",
                    ", ".join(after) or "none",
                    "; ".join(
                        part
                        for part in (
                            f"new: {', '.join(new)}" if new else "",
                            f"fixed: {', '.join(gone)}" if gone else "",
                        )
                        if part
                    ),
                )
            )
    return changes


def _where(key: str, entry: GoldenEntry) -> str:
    label = f" {entry.label}" if entry.label else ""
    return visible(f"{key}: {sim_clock(entry.at)} {entry.who}{label}")


def _compare_entries(
    key: str, before: Sequence[GoldenEntry], after: Sequence[GoldenEntry], tolerance: float
) -> list[GoldenChange]:
    changes: list[GoldenChange] = []
    signature = [(e.who, e.label) for e in before], [(e.who, e.label) for e in after]
    matcher = difflib.SequenceMatcher(None, *signature, autojunk=False)
    last = (0.0, 0.0)  # the moments of the last line both have
    for _, i1, i2, j1, j2 in matcher.get_opcodes():
        # Every opcode is handled alike: pair what lines up, the rest is added or removed.
        pairs = list(zip(before[i1:i2], after[j1:j2], strict=False))
        for old, new in pairs:
            # A slow reply moves every later line; measured from the last line both runs have,
            # only the line that moved is a timing change (and an added line shifts nothing).
            gaps = (old.at - last[0], new.at - last[1])
            changes += _compare_entry(key, old, new, gaps, tolerance)
            last = (old.at, new.at)
        for old in before[i1 + len(pairs) : i2]:
            changes.append(GoldenChange(key, "removed", _where(key, old), visible(old.text), ""))
        for new in after[j1 + len(pairs) : j2]:
            changes.append(GoldenChange(key, "added", _where(key, new), "", visible(new.text)))
    return changes


def _chunks(entry: GoldenEntry) -> str:
    """The chunks as one line: ``(interim) Let me check. | Order A-1042 shipped.``"""
    if entry.chunks is None:
        return visible(entry.text)

    def shown(chunk: str | GoldenChunk) -> str:
        if isinstance(chunk, GoldenChunk):
            return f"(interim) {chunk.text}" if chunk.interim else chunk.text
        return chunk

    return visible(" | ".join(shown(chunk) for chunk in entry.chunks))


def _compare_entry(
    key: str, old: GoldenEntry, new: GoldenEntry, gaps: tuple[float, float], tolerance: float
) -> list[GoldenChange]:
    where = _where(key, new)
    changes: list[GoldenChange] = []
    if old.text != new.text:
        changes.append(GoldenChange(key, "words", where, visible(old.text), visible(new.text)))
    elif _chunks(old) != _chunks(new):
        changes.append(GoldenChange(key, "chunks", where, _chunks(old), _chunks(new)))
    did = (old.actions or [], old.state or "done"), (new.actions or [], new.state or "done")
    if did[0] != did[1]:
        shown = [", ".join([*actions, state]) for actions, state in did]
        changes.append(GoldenChange(key, "actions", where, *shown))
    if (old.findings or []) != (new.findings or []):
        shown = [", ".join(e.findings or []) or "none" for e in (old, new)]
        changes.append(GoldenChange(key, "findings", where, *shown))
    moved = [
        f"{name} {_shown(a, unit)} -> {_shown(b, unit)}"
        for name, a, b, unit in (
            ("after the line before", round(gaps[0], 3), round(gaps[1], 3), "s"),
            ("first chunk", old.first_ms, new.first_ms, "ms"),
            ("last chunk", old.last_ms, new.last_ms, "ms"),
        )
        if _drifted(a, b, tolerance / 1000 if unit == "s" else tolerance)
    ]
    if moved:
        detail = "; ".join(moved) + f" (tolerance {tolerance:g} ms)"
        changes.append(GoldenChange(key, "timing", where, detail=detail))
    return changes


def _drifted(a: float | None, b: float | None, tolerance: float) -> bool:
    if a is None or b is None:
        return (a is None) != (b is None)
    return abs(a - b) > tolerance + 1e-9


def _shown(value: float | None, unit: str) -> str:
    return "none" if value is None else f"{value:g} {unit}"


# -- a run's goldens --------------------------------------------------------------------------------


def apply_goldens(result: ScenarioResult, loaded: LoadedScenario, mode: GoldenMode) -> None:
    """Compare ``result`` with its golden file (``check``) or rewrite the file where it changed
    (``update``), recording one check; the outcome follows. A scenario that errored is left alone:
    its conversation is cut short, and must not become a golden."""
    parts = golden_parts(loaded.scenario)
    if mode == "off" or not parts or result.outcome in ("error", "skipped"):
        return
    path = golden_path(loaded.file, loaded.scenario.name)
    result.golden_file = str(path)
    try:
        actual = build_golden(result, parts, shared_normalisers(path.parent))
    except GoldenFileError as exc:  # the folder's normalise.yaml: no golden can be built without it
        record_golden(result, loaded, None, str(exc))
        return
    try:
        expected = read_golden(path)
    except GoldenFileError as exc:
        if mode != "update":
            record_golden(result, loaded, None, str(exc))
            return
        expected = None
    if expected is not None and expected.scenario != actual.scenario and mode != "update":
        # Two names of one file with the same slug ("Order status", "order-status") share a golden.
        why = f"{path} is the golden of scenario {expected.scenario!r}: rename one of the two scenarios"
        record_golden(result, loaded, None, why)
        return
    changes = compare_golden(expected, actual) if expected is not None else None
    if mode == "update":
        written = changes is None or bool(changes) or _stale(expected, actual)
        if written:
            try:
                write_golden(path, actual, result.id)
            except OSError as exc:
                record_golden(result, loaded, None, f"cannot write {path}: {exc.strerror or exc}")
                return
        record_golden(result, loaded, [], updated=written)
        return
    record_golden(result, loaded, changes, "none yet: run with --update-goldens to write it")


def record_golden(
    result: ScenarioResult,
    loaded: LoadedScenario,
    changes: list[GoldenChange] | None,
    why_none: str = "",
    *,
    updated: bool | None = None,
) -> None:
    """One check for the scenario's golden: ``changes`` found (None: no golden to compare with,
    ``why_none`` says why), or the golden was just ``updated`` (True) or left as it was (False)."""
    parts = golden_parts(loaded.scenario)
    at = _check_path(parts[0].call_path if parts else None)
    line = loaded.line_of(at)
    what = f"golden conversation {result.golden_file}"
    if updated is not None:
        result.checks.append(Check(at, line, f"{what} ({'updated' if updated else 'unchanged'})", True))
    elif changes is None:
        result.checks.append(Check(at, line, what, False, "a golden file", why_none))
    else:
        result.golden_changes = changes
        counts: dict[str, int] = {}
        for change in changes:
            counts[change.kind] = counts.get(change.kind, 0) + 1
        summary = ", ".join(f"{n} {kind}" for kind, n in counts.items())
        got = (
            f"{len(changes)} change{'s' if len(changes) != 1 else ''}: {summary}" if changes else "no change"
        )
        result.checks.append(Check(at, line, what, not changes, "no change", got))
    if result.outcome == "passed" and result.failures:
        result.outcome = "failed"


def _stale(expected: GoldenFile | None, actual: GoldenFile) -> bool:
    """Conversations the file has that the scenario no longer asks for (or another tolerance)."""
    if expected is None:
        return True
    return (
        set(expected.conversations) != set(actual.conversations)
        or expected.tolerance_ms != actual.tolerance_ms
        or expected.scenario != actual.scenario
    )


def _check_path(call_path: tuple[str | int, ...] | None) -> tuple[str | int, ...]:
    if call_path is None:
        return ("expect", "golden")
    return ("call_expect",) if call_path == () else (*call_path, "expect")
