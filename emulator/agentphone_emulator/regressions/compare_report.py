"""``compare``'s report: every difference under the request that shows it, in words ready to paste
into a bug report (plain text: it goes into issues, not only terminals), or as JSON."""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict

from ..version import __version__
from .comparison import Comparison, Divergence

WORDS = {
    "missing": "only there",
    "extra": "only here",
    "casing": "spelt differently",
    "type": "another type",
    "differs": "differs",
}


def _line(d: Divergence) -> str:
    if d.aspect == "status":
        return f"status: {d.there_value} there, {d.here_value} here"
    if d.aspect == "unanswered":
        return f"no answer: there {d.there_value}; here {d.here_value}"
    if d.aspect == "openapi":
        return f"operation {d.path}: {WORDS[d.kind]}"
    if d.aspect == "content-type":
        return f"Content-Type: {d.there_value} there, {d.here_value} here"
    if d.aspect == "header":
        return f"header {d.path}: {WORDS[d.kind]}"
    where = d.path or "(the body)"
    if d.kind == "casing":
        return f"field {where}: spelt {d.there_value} there, {d.here_value} here"
    if d.kind == "type":
        return f"field {where}: {d.there_value} there, {d.here_value} here"
    value = d.there_value if d.kind == "missing" else d.here_value
    return f"field {where} ({value}): {WORDS[d.kind]}"


def text_report(result: Comparison) -> str:
    head = (
        f"compare: {result.base_url} (there) and agentphone-emulator {__version__} (here): "
        f"{result.requests} requests, {len(result.divergences)} difference"
        f"{'' if len(result.divergences) == 1 else 's'}"
    )
    lines = [head]
    grouped: dict[tuple[str, str, str], list[Divergence]] = defaultdict(list)
    for d in result.divergences:
        grouped[d.label, d.there, d.here].append(d)
    for (_, there, here), found in grouped.items():
        lines.append("")
        lines.append(there if there == here else f"{there}   (here: {here})")
        lines += [f"  {_line(d)}" for d in found]
    if result.notes:
        lines.append("")
        lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines) + "\n"


def json_report(result: Comparison) -> str:
    document = {
        "there": result.base_url,
        "here": f"agentphone-emulator {__version__}",
        "requests": result.requests,
        "differences": [{**dataclasses.asdict(d), "says": _line(d)} for d in result.divergences],
        "notes": result.notes,
    }
    return json.dumps(document, indent=2) + "\n"
