"""The imported scenario as YAML: a header that says where it came from, what was scrubbed and what
the expectations mean, and above each expectation the reply as it was said (a comment), so the
user tightening a rule has the words in front of them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import yaml

from ..safe_text import scrub as safe
from .scrub import RULES, scrub_document, walk_strings
from .timeline import ImportedScenario, keep_braces

_BREAKS = re.compile(r"[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]+")
# What YAML cannot hold even in a comment (its printable set, 5.1, inverted); values are escaped by the
# dumper, a comment has no escapes.
_UNPRINTABLE = re.compile("[^\x09\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
MAX_NOTE = 400


def one_line(text: str, limit: int = MAX_NOTE) -> str:
    """``text`` fit for a comment: every line break YAML knows (a comment ends at one) a space."""
    flat = _UNPRINTABLE.sub("\ufffd", _BREAKS.sub(" ", text)).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "".join(pad + line if line.strip() else line for line in text.splitlines(keepends=True))


def _note(text: str, spaces: int) -> str:
    return f"{' ' * spaces}# said: {one_line(text)}\n"


def _turns(turns: list[dict[str, Any]], notes: dict[str, str], spaces: int) -> str:
    out = ""
    for index, turn in enumerate(turns):
        head = {key: value for key, value in turn.items() if key != "expect"}
        out += _indent(_dump([head]), spaces)
        note = notes.get(f"turn {index}")
        if note is not None:
            out += _note(note, spaces + 2)
        if "expect" in turn:
            out += _indent(_dump({"expect": turn["expect"]}), spaces + 2)
    return out


def _step(step: dict[str, Any], notes: dict[str, str]) -> str:
    out = ""
    first = True
    for key, value in step.items():
        if key == "turns":
            out += "    turns:\n" + _turns(value, notes, 6) if value else "    turns: []\n"
            continue
        if key == "greeting" and "greeting" in notes:
            out += _note(notes["greeting"], 4)
        text = _dump({key: value})
        out += ("  - " + _indent(text, 4)[4:]) if first else _indent(text, 4)
        first = False
    return out


def document_yaml(scenario: ImportedScenario) -> str:
    body = ""
    for key, value in scenario.document.items():
        if key == "steps":
            body += "steps:\n" + "".join(_step(step, scenario.notes) for step in value)
        else:
            body += _dump({key: value})
    return body


def header(source: str, moment: str, *, scrubbed: bool) -> str:
    lines = [
        f"Imported by `agentphone-emulator import-call` from {one_line(source, 200)} on {moment}.",
        "Replay: agentphone-emulator run FILE --app your.module:app (or --webhook URL)",
        "The caller says what the real caller said, in order, with the silences and cuts the call's",
        "times show. Each reply is held to a few of its key words (text: {contains: [...],",
        "ignore_case: true}), the whole reply in the '# said:' comment above it: tighten them",
        "(equals, any_of, matches) or loosen them as your agent's answers may vary.",
    ]
    if scrubbed:
        lines.append("Personal data scrubbed (import with --keep to keep it), the same value the same fake:")
        lines += [f"  - {rule}" for rule in RULES]
        lines.append('Words spelt out ("four one five ...") are not recognised: check the text yourself.')
    else:
        lines.append("Personal data KEPT (--keep): do not commit this file where others can read it.")
    return "".join(f"# {line}\n" for line in lines)


def scenario_file(scenarios: Sequence[ImportedScenario], source: str, moment: str, *, scrubbed: bool) -> str:
    return header(source, moment, scrubbed=scrubbed) + "---\n".join(document_yaml(s) for s in scenarios)


def imported_file(scenarios: Sequence[ImportedScenario], source: str, moment: str, *, scrub: bool) -> str:
    """The file ``import-call`` writes: scrubbed (one pass over every scenario, so a number is the
    same fake everywhere in the file) unless not, said ``{{braces}}`` kept, rendered."""
    # A lone surrogate (a JSON "\\ud83d" escape) is no text YAML can hold: U+FFFD, as elsewhere.
    scenarios = [
        ImportedScenario(walk_strings(s.document, safe), walk_strings(s.notes, safe)) for s in scenarios
    ]
    if scrub:
        scrubbed = scrub_document([[s.document, s.notes] for s in scenarios])
        scenarios = [ImportedScenario(document, notes) for document, notes in scrubbed]
    return scenario_file([keep_braces(s) for s in scenarios], source, moment, scrubbed=scrub)
