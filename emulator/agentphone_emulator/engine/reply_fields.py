"""The field rules of a voice webhook's reply: what one reply object may contain, what the caller
hears of it, and the findings for every breach.

An object may carry ``text`` (spoken, markup stripped), ``interim`` (NDJSON only: keeps the turn
open), ``hangup``, ``action`` (``"transfer"`` / ``"hangup"``) and DTMF ``digits`` (aliases
``press_digit`` and ``dtmf``). Anything else is an ignored field, and each breach is reported as a
:class:`ReplyProblem` carrying a :class:`FindingCode`. :func:`read_chunk` applies these rules to one
object; how a body becomes objects (JSON or NDJSON framing) is :mod:`.replies`'s.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any

from ..safe_text import describe as describe_surrogates
from ..safe_text import lone_surrogates, scrub
from ..store.findings import FindingCode

KNOWN_FIELDS = frozenset({"text", "interim", "hangup", "action", "digits", "press_digit", "dtmf"})
"""The reply fields the platform reads; any other key is reported as VOICE_UNKNOWN_FIELD."""

DIGIT_FIELDS = ("digits", "press_digit", "dtmf")
"""The DTMF field and its aliases, in the order the first present one is taken."""

ACTIONS = ("transfer", "hangup")
"""The values ``action`` may take."""

# The media type a reply streams in (the framing's, replies.py): named here because the interim
# rule's advice names it.
NDJSON_TYPE = "application/x-ndjson"

ERROR = "error"
WARNING = "warning"

UNKNOWN_FIELDS_REPORTED = 20
"""Unknown keys reported one by one per object; the rest are summed up in one more warning, so an
object with thousands of keys cannot flood the findings."""

_DIGITS_RE = re.compile(r"[0-9*#]+")
_DIGIT_SEPARATORS_RE = re.compile(r"[\s\-.,()]+")

# Markup that is never meant to be spoken. One alternation, tried left to right at each position,
# so a fence or a tool-call block swallows any tags inside it instead of those being reported apart.
_TAG_NAME = r"[A-Za-z_][\w:.\-]*"
# Attributes must have a value: LLM and SSML markup always does (name="x", time="1s"), and requiring
# it keeps ordinary comparisons such as "if x<y and y>z" from reading as a tag.
_ATTR = r"""\s+[A-Za-z_:][\w:.\-]*\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+)"""
_BLOCK_TAGS = (
    r"function_calls|function_call|tool_calls|tool_call|tool_use|tool_results|tool_result|thinking|think"
)
_MARKUP_RE = re.compile(
    "|".join(
        (
            # A fenced code block; an unclosed fence (a truncated model answer) runs to the end.
            r"```.*?(?:```|\Z)",
            # A tool-call or reasoning block with its content. The opener must not be self-closing;
            # an unclosed one runs to the end, since what follows it was never meant for the caller.
            rf"<(?P<block>{_BLOCK_TAGS})\b[^<>]*(?<!/)>.*?(?:</(?P=block)\s*>|\Z)",
            # Chat-template special tokens: <|im_end|>, <|eot_id|>, DeepSeek's full-width bars (U+FF5C).
            r"<[|\uff5c][^\s<>|\uff5c]{1,64}[|\uff5c]>",
            # Bracketed tool markers (Mistral's [TOOL_CALLS] and friends).
            r"\[/?(?:TOOL_CALLS|TOOL_CALL|TOOL_RESULTS|TOOL_RESULT|AVAILABLE_TOOLS|INST)\]",
            # Any other tag: closing, opening or self-closing.
            rf"</{_TAG_NAME}\s*>",
            rf"<{_TAG_NAME}(?:{_ATTR})*\s*/?>",
        )
    ),
    re.DOTALL | re.IGNORECASE,
)
# Removing markup can make new markup out of what surrounded it ("<<b>b>" leaves "<b>"), so cleaning
# repeats; past this many passes the input is adversarial and the characters every pattern starts
# with are blanked, which guarantees the result is clean (and so that cleaning is idempotent).
_CLEAN_PASSES = 3
_NEUTRALISE = str.maketrans({c: " " for c in "<>`["})
# Removed markup leaves nothing when it touches whitespace or closing punctuation ("Sure.<tag>",
# "<b>Hi</b>!"), and a space otherwise, so "Hello<break/>world" does not read as "Helloworld".
_JOINS_WITHOUT_SPACE = frozenset(".,!?;:)]}\"'")

# Spellings of a known field that a did-you-mean by edit distance would miss.
_SYNONYMS = {
    "message": "text",
    "content": "text",
    "response": "text",
    "reply": "text",
    "say": "text",
    "speak": "text",
    "speech": "text",
    "output": "text",
    "answer": "text",
    "msg": "text",
    "endcall": "hangup",
    "hang": "hangup",
    "partial": "interim",
    "presskey": "digits",
    "keys": "digits",
    "senddigits": "digits",
}


def clean_spoken_text(text: str) -> tuple[str, list[str]]:
    """``text`` as the platform speaks it, and the markup fragments removed from it.

    Removes tags (``<b>``, ``</b>``, ``<break time="1s"/>``), tool-call and reasoning blocks with their
    content (``<function_call>...</function_call>``, ``<tool_call>``, ``<tool_use>``, ``<thinking>``),
    chat-template tokens (``<|im_end|>``), fenced code blocks and bracketed tool markers
    (``[TOOL_CALLS]``), then collapses whitespace to single spaces and strips it. Ordinary text such as
    ``a < b``, ``I <3 you`` or ``<me@example.com>`` is left alone. Cleaning a cleaned text changes
    nothing.
    """
    found: list[str] = []

    def cut(match: re.Match[str]) -> str:
        found.append(match.group())
        start, end = match.span()
        before = match.string[start - 1] if start else " "
        after = match.string[end] if end < len(match.string) else " "
        if before.isspace() or after.isspace() or after in _JOINS_WITHOUT_SPACE:
            return ""
        return " "

    out = text
    for _ in range(_CLEAN_PASSES):
        seen = len(found)
        out = _MARKUP_RE.sub(cut, out)
        if len(found) == seen:
            break
    else:
        leftovers = [match.group() for match in _MARKUP_RE.finditer(out)]
        if leftovers:
            found.extend(leftovers)
            out = out.translate(_NEUTRALISE)
    # str.split() and the patterns' \s agree on what whitespace is, so collapsing cannot make markup.
    return " ".join(out.split()), found


@dataclass(frozen=True, slots=True)
class ReplyChunk:
    """One reply object as the platform acts on it: a whole JSON reply, or one NDJSON line."""

    index: int
    """0-based position among the reply's chunks (valid objects only), in arrival order."""
    line: int | None
    """1-based NDJSON line number; None for a single JSON reply."""
    text: str
    """What will be spoken: ``text`` after markup stripping and whitespace collapse ('' if none)."""
    raw_text: str | None
    """The ``text`` field as sent when it was a string, else None."""
    interim: bool
    """The chunk keeps the turn open (NDJSON only; always False in a JSON reply)."""
    hangup: bool
    """End the call after speaking: ``hangup: true`` or ``action: "hangup"``."""
    transfer: bool
    """``action: "transfer"``: cold transfer to the agent's transferNumber."""
    digits: str | None
    """Validated DTMF keys from digits/press_digit/dtmf; None if absent or invalid."""
    raw: bytes
    """The exact bytes of the line (without its newline) or of the whole JSON body."""

    @property
    def final(self) -> bool:
        """This chunk closes the turn."""
        return not self.interim


@dataclass(frozen=True, slots=True)
class ReplyProblem:
    """A contract break found in a reply, before the engine turns it into a Finding."""

    code: FindingCode
    message: str
    """One line a developer can act on, naming the line and field."""
    offending: bytes | None
    """The bytes at fault (unclipped; the engine clips when recording)."""
    severity: str
    """'error' (the caller hears something wrong or nothing) or 'warning' (works, but risky)."""
    line: int | None = None
    """1-based NDJSON line the problem is on, when there is one."""


def read_chunk(
    obj: dict[str, Any], line: int | None, raw: bytes, index: int, problems: list[ReplyProblem]
) -> ReplyChunk:
    """Validate one reply object: its problems are appended to ``problems`` (the reader's, in body
    order), and the chunk it makes, ``index``-th of the reply, is returned."""
    where = f"line {line}: " if line is not None else ""

    def problem(code: FindingCode, message: str, severity: str = ERROR) -> None:
        problems.append(ReplyProblem(code, where + message, raw, severity, line))

    text = obj.get("text")
    raw_text = text if isinstance(text, str) else None
    if text is not None and raw_text is None:
        problem(
            FindingCode.VOICE_INVALID_FIELD, f'"text" must be a string, got {_describe(text)}; not spoken'
        )
    elif raw_text is not None and (lone := lone_surrogates(raw_text)):
        # Stored as it came, the text would break every later encoding of the call (the API's
        # answers, the next envelope, the state file): checked here, where it enters.
        problem(
            FindingCode.VOICE_INVALID_TEXT,
            f'"text" holds {describe_surrogates(lone)}: not valid Unicode, so each is spoken as '
            "U+FFFD; a string cut inside an emoji (JavaScript's .slice() counts UTF-16 units: cut "
            "Array.from(text) instead)",
        )
        raw_text = scrub(raw_text)

    interim, complaint = _flag(obj, "interim", line is not None)
    if complaint:
        problem(FindingCode.VOICE_INVALID_FIELD, complaint)
    if interim and line is None:
        problem(
            FindingCode.VOICE_INTERIM_IN_JSON,
            '"interim": true has no effect in a single JSON reply, which always closes the turn; '
            f"stream Content-Type: {NDJSON_TYPE} to keep the turn open",
            WARNING,
        )
        interim = False
    hangup, complaint = _flag(obj, "hangup", line is not None)
    if complaint:
        problem(FindingCode.VOICE_INVALID_FIELD, complaint)

    transfer = False
    action = obj.get("action")
    if action == "transfer":
        transfer = True
    elif action == "hangup":
        hangup = True
    elif action is not None:
        casing = " (values are lowercase)" if isinstance(action, str) and action.lower() in ACTIONS else ""
        problem(
            FindingCode.VOICE_INVALID_FIELD,
            f'"action" must be "transfer" or "hangup", got {_describe(action)}{casing}; ignored',
        )

    digits = None
    for key in DIGIT_FIELDS:
        value = obj.get(key)
        if value is None:
            continue
        if isinstance(value, str) and _DIGITS_RE.fullmatch(value):
            digits = value
        else:
            problem(FindingCode.VOICE_INVALID_DIGITS, _digits_message(key, value))
        break

    unknown = [key for key in obj if key not in KNOWN_FIELDS]
    for key in unknown[:UNKNOWN_FIELDS_REPORTED]:
        guess = _did_you_mean(key)
        problem(
            FindingCode.VOICE_UNKNOWN_FIELD,
            f"unknown field {quote(key)} is ignored by the platform"
            + (f"; did you mean {guess}?" if guess else ""),
            WARNING,
        )
    if len(unknown) > UNKNOWN_FIELDS_REPORTED:
        problem(
            FindingCode.VOICE_UNKNOWN_FIELD,
            f"{len(unknown) - UNKNOWN_FIELDS_REPORTED} more unknown fields are ignored by the platform; "
            f"it reads only {', '.join(sorted(KNOWN_FIELDS))}",
            WARNING,
        )

    spoken = ""
    if raw_text is not None:
        spoken, markup = clean_spoken_text(raw_text)
        if markup:
            shown = ", ".join(quote(fragment, 40) for fragment in markup[:3])
            more = f" and {len(markup) - 3} more" if len(markup) > 3 else ""
            problems.append(
                ReplyProblem(
                    FindingCode.VOICE_MARKUP_IN_TEXT,
                    f'{where}"text" contains markup that is not meant to be spoken: {shown}{more}; the '
                    "platform strips it, but your server should not send it (a model's tool-call or "
                    "formatting leaking into speech)",
                    raw_text.encode(),
                    WARNING,
                    line,
                )
            )

    return ReplyChunk(
        index=index,
        line=line,
        text=spoken,
        raw_text=raw_text,
        interim=interim,
        hangup=hangup,
        transfer=transfer,
        digits=digits,
        raw=raw,
    )


def _flag(obj: dict[str, Any], key: str, ndjson: bool) -> tuple[bool, str | None]:
    """A boolean field: true/false, or null/absent (False). Anything else is False plus a complaint."""
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return bool(value), None
    consequence = "treated as false"
    if key == "interim" and ndjson:
        consequence += ", so this chunk is final and closes the turn"
    return False, f'"{key}" must be true or false, got {_describe(value)}; {consequence}'


def non_object(value: Any) -> str:
    """'is JSON but not an object (got an array)' and the like, with a fix for a bare string."""
    if isinstance(value, list):
        kind = "an array"
    elif isinstance(value, str):
        kind = "a string"
    elif isinstance(value, bool):
        kind = "a boolean"
    elif value is None:
        kind = "null"
    else:
        kind = "a number"
    fix = f" (send {{{quote('text')}: {quote(value, 60)}}})" if isinstance(value, str) else ""
    return f"is JSON but not an object (got {kind}){fix}"


def _describe(value: Any) -> str:
    """A short, single-line, non-recursive description of a JSON value for a message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean true" if value else "boolean false"
    if isinstance(value, int | float):
        try:
            shown = json.dumps(value)
        except ValueError:
            shown = "(too long to show)"
        return f"number {shown[:40]}"
    if isinstance(value, str):
        return f"string {quote(value, 60)}"
    if isinstance(value, list):
        return f"an array of {len(value)} item{'s' if len(value) != 1 else ''}"
    return "an object"


def quote(value: str, limit: int = 60) -> str:
    """``value`` as a JSON string literal, clipped, and safe to put on one line of a message."""
    clipped = value if len(value) <= limit else value[:limit] + "…"
    quoted = json.dumps(clipped, ensure_ascii=False)
    # json.dumps escapes control characters but not these, which str.splitlines() breaks on; lone
    # surrogates (legal in JSON escapes) are escaped so the message can be encoded.
    quoted = quoted.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").replace("\x85", "\\u0085")
    return quoted.encode("utf-8", "backslashreplace").decode("utf-8")


def _digits_message(key: str, value: Any) -> str:
    prefix = f'"{key}" must be a string of DTMF keys (0-9, * and #)'
    if isinstance(value, str):
        if not value:
            return f"{prefix}, got an empty string; nothing is pressed"
        cleaned = _DIGIT_SEPARATORS_RE.sub("", value)
        hint = f"; did you mean {quote(cleaned)}?" if _DIGITS_RE.fullmatch(cleaned) else ""
        return f"{prefix}, got string {quote(value)}{hint}; nothing is pressed"
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return (
            f'{prefix}, got number {value}; send it as a string ("{value}"), which also keeps leading '
            "zeros; nothing is pressed"
        )
    return f"{prefix}, got {_describe(value)}; nothing is pressed"


def _did_you_mean(key: str) -> str | None:
    """The known field an unknown key most likely meant, quoted, or None."""
    normalised = re.sub(r"[\s_\-]", "", key.lower())
    for field in sorted(KNOWN_FIELDS):
        if normalised == field.replace("_", ""):
            return quote(field)
    if normalised == "transfer":
        return '"action": "transfer"'
    if normalised in _SYNONYMS:
        return quote(_SYNONYMS[normalised])
    close = difflib.get_close_matches(key.lower()[:100], sorted(KNOWN_FIELDS), n=1)
    return quote(close[0]) if close else None
