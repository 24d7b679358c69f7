"""Golden conversations in the scenario language and on disk, as pydantic models.

In a scenario, ``expect: golden`` (the scenario's ``expect``, a call step's ``expect``, the shorthand's
``call_expect``) or ``golden: true`` / ``golden: {tolerance_ms, normalise}`` inside such an ``expect``
asks for the conversation to be compared with its golden file. On disk, :class:`GoldenFile` is that
file's shape: readable YAML, one list of :class:`GoldenEntry` per conversation.
"""

from __future__ import annotations

import difflib
from typing import Any

import regex
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .strict import Strict

DEFAULT_TOLERANCE_MS = 500.0
"""Timing drift (a reply's first and last chunk, a line's moment) within this is not a change: real
latencies jitter on a loaded machine by tens of milliseconds, and now and then stall by hundreds."""
GOLDEN = "golden"
GOLDEN_DIR = "__goldens__"
"""Where golden files live, beside the scenario files: never read as scenarios."""


class Normaliser(Strict):
    """A text the agent says that changes from run to run, replaced before comparing."""

    pattern: str = Field(description="A regular expression (Python's re syntax).")
    replace: str = Field(description="What every match becomes, e.g. '<order>' (taken literally).")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            regex.compile(pattern)
        except regex.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return pattern


class GoldenOptions(Strict):
    """How this conversation is compared with its golden file."""

    tolerance_ms: float = Field(
        DEFAULT_TOLERANCE_MS,
        ge=0,
        le=600_000,
        description="Timing drift within this many milliseconds is not a change.",
    )
    normalise: list[Normaliser] = Field(
        default_factory=list,
        description="Patterns replaced by a placeholder before comparing (ids, timestamps and phone "
        "numbers always are).",
    )


GoldenSetting = bool | GoldenOptions


def golden_shorthand(value: Any) -> Any:
    """``expect: golden`` is ``expect: {golden: true}`` (a before-validator of the expect fields);
    any other word there is a mistake worth naming (``goldne``)."""
    if value == GOLDEN:
        return {GOLDEN: True}
    if isinstance(value, str):
        close = difflib.get_close_matches(value, [GOLDEN], n=1)
        hint = " (did you mean 'golden'?)" if close else ""
        raise ValueError(f"expected a mapping, or the word golden; got {value!r}{hint}")
    return value


def add_shorthand_to_schema(schema: dict[str, Any]) -> None:
    """The JSON Schema of an ``expect`` field also allows the string ``golden`` (for editors)."""
    shorthand = {"const": GOLDEN, "description": "Compare the conversation with its golden file."}
    if "anyOf" in schema:
        schema["anyOf"].append(shorthand)
    else:
        schema["anyOf"] = [{key: schema.pop(key) for key in list(schema) if key != "description"}, shorthand]


def golden_options(setting: GoldenSetting | None) -> GoldenOptions | None:
    if setting is None or setting is False:
        return None
    return GoldenOptions() if setting is True else setting


# -- the file --------------------------------------------------------------------------------------


class GoldenChunk(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    interim: bool = False


class GoldenEntry(BaseModel):
    """One line of a conversation: who, which turn, the words, the chunks, what it did, when."""

    model_config = ConfigDict(extra="forbid")

    at: float = Field(description="Simulated seconds since the scenario started.")
    who: str
    label: str = ""
    text: str = ""
    chunks: list[str | GoldenChunk] | None = None  # agent replies with more than one chunk
    actions: list[str] | None = None  # hangup, transfer, press 12
    state: str | None = None  # interrupted, silent (done is left out)
    first_ms: float | None = None
    last_ms: float | None = None
    findings: list[str] | None = None


class GoldenFile(BaseModel):
    """A golden file: the scenario it belongs to and its conversations (``scenario`` for the whole
    scenario, or the path of a call step: ``call``, ``steps[2]``)."""

    model_config = ConfigDict(extra="forbid")

    scenario: str
    file: str = ""
    tolerance_ms: float = DEFAULT_TOLERANCE_MS
    conversations: dict[str, list[GoldenEntry]] = Field(default_factory=dict)
    findings: dict[str, list[str]] = Field(default_factory=dict)  # conversation -> "code (severity)"
