"""A recorded session as an imported call: the scenario YAML that ``mic --record`` writes and the
console exports (``GET /__emulator/calls/{id}/scenario``, mic mode's writer), loosened.

Those files already replay the call (``say`` / ``interrupt`` with ``after`` / ``press``, the
hangup); what they hold the agent to is its exact words. Imported, each exact ``text`` becomes key
words (:mod:`.keywords`) with the words kept in a comment, the file gets the ``imported`` tag, and
it is scrubbed like any other import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..scenario.loader import ScenarioFileError, load_file
from .call_sources import SourceError
from .keywords import loose_text
from .timeline import ImportedScenario

_SHORTHAND = {"call": "call", "greeting": "greeting", "turns": "turns", "call_expect": "expect"}


def _loosen(expect: Any, notes: dict[str, str], note: str) -> Any:
    if not isinstance(expect, dict) or not isinstance(expect.get("text"), str):
        return expect
    loose = loose_text(expect["text"])
    notes[note] = expect["text"]
    rest = {key: value for key, value in expect.items() if key != "text"}
    return {"text": loose, **rest} if loose else rest


def _step_form(document: dict[str, Any]) -> dict[str, Any]:
    """The top-level ``call`` shorthand as the one step it stands for (the writer has one form)."""
    if "call" not in document:
        return document
    step = {_SHORTHAND[key]: document.pop(key) for key in list(_SHORTHAND) if key in document}
    steps = document.pop("steps", [])
    rest = {key: value for key, value in document.items() if key not in ("expect",)}
    out = {**rest, "steps": [step, *steps]}
    if "expect" in document:
        out["expect"] = document["expect"]
    return out


def _imported(document: dict[str, Any]) -> ImportedScenario:
    document = _step_form(document)
    tags = list(document.get("tags") or [])
    document["tags"] = [*tags, "imported"] if "imported" not in tags else tags
    notes: dict[str, str] = {}
    for step in document.get("steps") or []:
        if not isinstance(step, dict) or not ({"call", "web_call"} & set(step)):
            continue  # only the first call's notes are shown (comments are keyed by turn)
        if "greeting" in step:
            step["greeting"] = _loosen(step["greeting"], notes, "greeting")
        for index, turn in enumerate(step.get("turns") or []):
            if isinstance(turn, dict) and "expect" in turn:
                turn["expect"] = _loosen(turn["expect"], notes, f"turn {index}")
                if not turn["expect"]:
                    del turn["expect"]
        break
    return ImportedScenario(document, notes)


def from_recording(path: Path) -> list[ImportedScenario]:
    """Every scenario of a recorded session's file, loosened (checked by the scenario loader first)."""
    try:
        load_file(path)
    except ScenarioFileError as exc:
        first = exc.problems[0]
        more = f" (and {len(exc.problems) - 1} more problems)" if len(exc.problems) > 1 else ""
        raise SourceError(f"not a recorded session's scenario: {first}{more}") from None
    documents = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8-sig")) if d is not None]
    return [_imported(document) for document in documents]
