"""Reading a voice webhook's reply: what the caller will hear, and every way the reply breaks the contract.

On a voice call each caller utterance is POSTed to the user's webhook, and the answer is either one
JSON object (``application/json``) or a stream of newline-delimited JSON objects
(``application/x-ndjson``). An object may carry ``text`` (spoken), ``interim`` (NDJSON only: keeps the
turn open), ``hangup``, ``action`` (``"transfer"`` / ``"hangup"``) and DTMF ``digits`` (aliases
``press_digit`` and ``dtmf``). Anything else is silence, a skipped line, or an ignored field, and each
of those is reported as a :class:`ReplyProblem` carrying a :class:`FindingCode`.

:class:`ReplyReader` is pure and synchronous on purpose: the voice engine feeds it bytes as they
arrive off the socket and stamps the times itself, so the same body gives the same chunks and the
same problems however the network happens to split it.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, replace
from typing import Any, Literal

from ..safe_text import describe as describe_surrogates
from ..safe_text import lone_surrogates, scrub
from ..store.findings import FindingCode

MAX_REPLY_BYTES = 1 << 20
"""Body bytes the reader takes; past this it reports VOICE_REPLY_TOO_LARGE and ignores the rest."""

KNOWN_FIELDS = frozenset({"text", "interim", "hangup", "action", "digits", "press_digit", "dtmf"})
"""The reply fields the platform reads; any other key is reported as VOICE_UNKNOWN_FIELD."""

DIGIT_FIELDS = ("digits", "press_digit", "dtmf")
"""The DTMF field and its aliases, in the order the first present one is taken."""

ACTIONS = ("transfer", "hangup")
"""The values ``action`` may take."""

NDJSON_TYPE = "application/x-ndjson"
# Media types a streaming server plausibly sends for NDJSON. They are read as NDJSON (the body is
# unambiguous) but warned about, since only application/x-ndjson is documented.
NDJSON_ALIASES = frozenset(
    {"application/ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines"}
)

ERROR = "error"
WARNING = "warning"

AFTER_FINAL_KEPT = 4096
"""Bytes of post-final NDJSON kept as the offending bytes of VOICE_BYTES_AFTER_FINAL."""

UNKNOWN_FIELDS_REPORTED = 20
"""Unknown keys reported one by one per object; the rest are summed up in one more warning, so an
object with thousands of keys cannot flood the findings."""

# JSON's insignificant whitespace (RFC 8259). bytes.strip() would also drop \x0b and \x0c, which make
# a line invalid JSON; a line of those is content, not a blank line.
_JSON_WS = b" \t\r\n"
_UTF8_BOM = b"\xef\xbb\xbf"

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


def parse_content_type(value: str | None) -> str:
    """The media type of a Content-Type header, lowercased and without parameters ('' when missing)."""
    if value is None:
        return ""
    return value.split(";", 1)[0].strip().lower()


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


class ReplyReader:
    """Incremental reader of one voice reply body.

    Construct it with the response's Content-Type, :meth:`feed` it bytes as they arrive and call
    :meth:`finish` at the end of the body. In NDJSON mode each line becomes a chunk as soon as its
    newline arrives, so the engine can speak interim chunks while the server is still working; in
    JSON mode the body is parsed at :meth:`finish`. ``closed`` tells the engine it may stop reading.
    The result depends only on the bytes, never on how they were split, and the reader never raises.
    """

    mode: Literal["ndjson", "json"]
    """How the body is read, decided from the Content-Type at construction."""
    problems: list[ReplyProblem]
    """Every problem found so far, in body order (end-of-body problems last)."""
    chunks: list[ReplyChunk]
    """Every chunk produced so far."""
    closed: bool
    """No further input will be used: a final NDJSON chunk arrived, the size limit was passed, or
    :meth:`finish` was called (a JSON reply is parsed there)."""

    def __init__(self, content_type: str | None, *, max_bytes: int = MAX_REPLY_BYTES) -> None:
        self._media_type = parse_content_type(content_type)
        is_ndjson = self._media_type == NDJSON_TYPE or self._media_type in NDJSON_ALIASES
        self.mode = "ndjson" if is_ndjson else "json"
        self.problems = []
        self.chunks = []
        self.closed = False
        self._max = max(0, max_bytes)
        self._total = 0  # every byte fed, kept or not
        self._too_large = False
        self._finished = False
        # JSON mode: the whole body. NDJSON mode: the current unterminated line. Never longer than
        # max_bytes, since only the first max_bytes bytes of a body are ever kept.
        self._buffer = bytearray()
        self._line_no = 0  # NDJSON lines completed so far (newlines seen)
        self._final_line: int | None = None
        self._saw_content = False  # a non-blank NDJSON line arrived
        # The NDJSON body while it has produced no chunk, to recognise a pretty-printed JSON object
        # sent as NDJSON at the end; dropped at the first chunk.
        self._whole: bytearray | None = bytearray() if is_ndjson else None
        self._after: bytearray | None = None  # non-blank bytes after the final chunk
        self._after_problem: int | None = None  # index of the VOICE_BYTES_AFTER_FINAL problem
        if self._media_type in NDJSON_ALIASES:
            self._problem(
                FindingCode.VOICE_WRONG_CONTENT_TYPE,
                f"Content-Type {_quote(self._media_type)} is read as NDJSON, but the platform documents "
                f"{NDJSON_TYPE}: send Content-Type: {NDJSON_TYPE}",
                None,
                WARNING,
            )

    @property
    def too_large(self) -> bool:
        """The body passed ``max_bytes``: nothing more will be read, so the engine stops reading."""
        return self._too_large

    @property
    def spoken_text(self) -> str:
        """The texts of all chunks, joined with single spaces (empty ones skipped)."""
        return " ".join(chunk.text for chunk in self.chunks if chunk.text)

    def feed(self, data: bytes) -> list[ReplyChunk]:
        """Take the next bytes of the body; return the chunks they completed (NDJSON: each line whose
        newline arrived; JSON: none until :meth:`finish`). Input after :meth:`finish` is ignored."""
        if self._finished:
            return []
        if not isinstance(data, bytes):
            data = bytes(data)
        if self._too_large:
            self._total += len(data)
            return []
        room = self._max - self._total
        self._total += len(data)
        # Only the bytes up to the limit are read, so the result does not depend on where the feed
        # that crossed the limit happened to start.
        kept = data if len(data) <= room else data[:room]
        if self.mode == "json":
            self._buffer += kept
            new: list[ReplyChunk] = []
        else:
            new = self._feed_ndjson(kept)
        if self._total > self._max:
            self._overflow()
        return new

    def finish(self) -> list[ReplyChunk]:
        """The body has ended: parse what is left and report end-of-body problems. Returns the chunks
        this produced; calling it again returns []."""
        if self._finished:
            return []
        self._finished = True
        new = self._finish_json() if self.mode == "json" else self._finish_ndjson()
        self.closed = True
        return new

    # -- NDJSON ---------------------------------------------------------------------------------------

    def _feed_ndjson(self, data: bytes) -> list[ReplyChunk]:
        if self._whole is not None:
            self._whole += data
        new: list[ReplyChunk] = []
        pos = 0
        while pos < len(data):
            if self._final_line is not None:
                self._after_final(data[pos:])
                break
            newline = data.find(b"\n", pos)
            if newline < 0:
                self._buffer += data[pos:]
                break
            if self._buffer:
                line = bytes(self._buffer) + data[pos:newline]
                self._buffer.clear()
            else:
                line = data[pos:newline]
            pos = newline + 1
            self._line_no += 1
            chunk = self._ndjson_line(line, self._line_no)
            if chunk is not None:
                new.append(chunk)
        return new

    def _ndjson_line(self, line: bytes, number: int) -> ReplyChunk | None:
        """One complete NDJSON line (newline already removed): a chunk, a problem, or nothing."""
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line.strip(_JSON_WS):
            return None
        self._saw_content = True
        value, error = _loads(line)
        if error is not None:
            self._problem(
                FindingCode.VOICE_INVALID_NDJSON_LINE,
                f"line {number}: not valid JSON ({error}); each NDJSON line must be one complete JSON "
                "object, and this line is skipped",
                line,
                ERROR,
                number,
            )
            return None
        if not isinstance(value, dict):
            self._problem(
                FindingCode.VOICE_NON_OBJECT_REPLY,
                f"line {number}: {_non_object(value)}; the platform skips it",
                line,
                ERROR,
                number,
            )
            return None
        chunk = self._chunk(value, number, line)
        if chunk.final:
            self._final_line = number
            self.closed = True
        return chunk

    def _after_final(self, data: bytes) -> None:
        """Bytes after the final chunk closed the turn: never spoken, reported once."""
        if self._after is None:
            rest = data.lstrip(_JSON_WS)
            skipped = len(data) - len(rest)
            first_line = self._line_no + data.count(b"\n", 0, skipped) + 1
            self._line_no += data.count(b"\n")
            if not rest:
                return
            self._after = bytearray(rest[:AFTER_FINAL_KEPT])
            self._after_problem = len(self.problems)
            self._problem(
                FindingCode.VOICE_BYTES_AFTER_FINAL,
                f"line {first_line}: the stream went on after the final chunk on line {self._final_line} "
                'closed the turn, and none of it is spoken; mark the chunks before the last "interim": '
                "true, or end the stream after the final chunk",
                bytes(self._after).rstrip(_JSON_WS),
                ERROR,
                first_line,
            )
            return
        self._line_no += data.count(b"\n")
        room = AFTER_FINAL_KEPT - len(self._after)
        if room > 0 and data and self._after_problem is not None:
            # The offending bytes grow as the stream goes on, so the recorded problem is the same
            # whichever feed the first stray byte arrived in.
            self._after += data[:room]
            self.problems[self._after_problem] = replace(
                self.problems[self._after_problem], offending=bytes(self._after).rstrip(_JSON_WS)
            )

    def _finish_ndjson(self) -> list[ReplyChunk]:
        new: list[ReplyChunk] = []
        if not self._too_large and self._final_line is None and self._buffer:
            # The last line may lack its newline; it still counts.
            line = bytes(self._buffer)
            self._buffer.clear()
            self._line_no += 1
            chunk = self._ndjson_line(line, self._line_no)
            if chunk is not None:
                new.append(chunk)
        if self._final_line is not None:
            return new
        if self.chunks:
            last = self.chunks[-1]
            self._problem(
                FindingCode.VOICE_NO_FINAL_CHUNK,
                f"line {last.line}: the stream ended with every chunk marked interim; the platform takes "
                'the last chunk as final anyway, but send the last chunk without "interim": true',
                last.raw,
                ERROR,
                last.line,
            )
        elif not self._saw_content and not self._too_large:
            self._problem(FindingCode.VOICE_EMPTY_REPLY, _EMPTY_MESSAGE, None, ERROR)
        elif self._whole is not None and not self._too_large:
            # Nothing usable and at least one bad line: the commonest cause is one pretty-printed
            # object under an NDJSON Content-Type, which the per-line errors alone do not explain.
            body = bytes(self._whole)
            value, error = _loads(body)
            if error is None and isinstance(value, dict):
                self._problem(
                    FindingCode.VOICE_WRONG_CONTENT_TYPE,
                    "the body is one JSON object spread over several lines, but NDJSON needs one object "
                    "per line: put it on one line, or send it as Content-Type: application/json",
                    body,
                    ERROR,
                )
        self._whole = None
        return new

    # -- JSON -----------------------------------------------------------------------------------------

    def _finish_json(self) -> list[ReplyChunk]:
        if self._too_large:
            return []
        body = bytes(self._buffer)
        self._buffer.clear()
        if not body.strip(_JSON_WS):
            self._problem(FindingCode.VOICE_EMPTY_REPLY, _EMPTY_MESSAGE, None, ERROR)
            return []
        value, error = _loads(body)
        if error is not None:
            lines = _ndjson_objects(body)
            if lines:
                self._problem(
                    FindingCode.VOICE_WRONG_CONTENT_TYPE,
                    f"the body is NDJSON ({lines} lines, each a JSON object) but Content-Type is "
                    f"{self._described_type()}, so it is read as one JSON document, which does not parse, "
                    f"and the caller hears silence: send Content-Type: {NDJSON_TYPE}",
                    body,
                    ERROR,
                )
                return []
            self._json_type_warning()
            hint = ""
            # JSON behind a byte-order mark is not plain text: the BOM is the problem, and said so.
            if body.lstrip(_JSON_WS).removeprefix(_UTF8_BOM)[:1] not in (b"{", b"[", b'"'):
                hint = ' (it looks like plain text: send {"text": "..."})'
            self._problem(
                FindingCode.VOICE_INVALID_JSON,
                f"the reply is not valid JSON ({error}){hint}; the caller hears silence",
                body,
                ERROR,
            )
            return []
        self._json_type_warning()
        if not isinstance(value, dict):
            self._problem(
                FindingCode.VOICE_NON_OBJECT_REPLY,
                f"the reply {_non_object(value)}; the caller hears silence",
                body,
                ERROR,
            )
            return []
        return [self._chunk(value, None, body)]

    def _json_type_warning(self) -> None:
        media = self._media_type
        if media == "application/json" or (media.endswith("+json") and "/" in media):
            return
        self._problem(
            FindingCode.VOICE_WRONG_CONTENT_TYPE,
            f"Content-Type is {self._described_type()}; the reply is parsed as JSON anyway, but send "
            f"Content-Type: application/json (or {NDJSON_TYPE} to stream)",
            None,
            WARNING,
        )

    def _described_type(self) -> str:
        return _quote(self._media_type) if self._media_type else "missing"

    # -- Shared ---------------------------------------------------------------------------------------

    def _overflow(self) -> None:
        self._too_large = True
        self.closed = True
        line = self._line_no + 1 if self.mode == "ndjson" else None
        # A partial line (NDJSON) or a truncated body (JSON) would only parse into nonsense.
        self._buffer.clear()
        self._whole = None
        self._problem(
            FindingCode.VOICE_REPLY_TOO_LARGE,
            (f"line {line}: " if line is not None else "")
            + f"the reply is larger than {self._max} bytes; nothing past that is read",
            None,
            ERROR,
            line,
        )

    def _problem(
        self, code: FindingCode, message: str, offending: bytes | None, severity: str, line: int | None = None
    ) -> None:
        self.problems.append(ReplyProblem(code, message, offending, severity, line))

    def _chunk(self, obj: dict[str, Any], line: int | None, raw: bytes) -> ReplyChunk:
        """Validate one reply object, report its problems, and record the chunk it makes."""
        where = f"line {line}: " if line is not None else ""

        def problem(code: FindingCode, message: str, severity: str = ERROR) -> None:
            self._problem(code, where + message, raw, severity, line)

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
            casing = (
                " (values are lowercase)" if isinstance(action, str) and action.lower() in ACTIONS else ""
            )
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
                f"unknown field {_quote(key)} is ignored by the platform"
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
                shown = ", ".join(_quote(fragment, 40) for fragment in markup[:3])
                more = f" and {len(markup) - 3} more" if len(markup) > 3 else ""
                self._problem(
                    FindingCode.VOICE_MARKUP_IN_TEXT,
                    f'{where}"text" contains markup that is not meant to be spoken: {shown}{more}; the '
                    "platform strips it, but your server should not send it (a model's tool-call or "
                    "formatting leaking into speech)",
                    raw_text.encode(),
                    WARNING,
                    line,
                )

        chunk = ReplyChunk(
            index=len(self.chunks),
            line=line,
            text=spoken,
            raw_text=raw_text,
            interim=interim,
            hangup=hangup,
            transfer=transfer,
            digits=digits,
            raw=raw,
        )
        self.chunks.append(chunk)
        self._whole = None  # the stream produced a chunk: no pretty-printed-JSON diagnosis needed
        return chunk


def read_object(reply: Any) -> ReplyReader:
    """A reply given as a Python object (a hosted responder's answer, the platform's own
    greeting), read exactly as if a webhook had answered it as JSON: same chunks, same checks."""
    reader = ReplyReader("application/json")
    reader.feed(json.dumps(reply).encode())
    reader.finish()
    return reader


def _flag(obj: dict[str, Any], key: str, ndjson: bool) -> tuple[bool, str | None]:
    """A boolean field: true/false, or null/absent (False). Anything else is False plus a complaint."""
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return bool(value), None
    consequence = "treated as false"
    if key == "interim" and ndjson:
        consequence += ", so this chunk is final and closes the turn"
    return False, f'"{key}" must be true or false, got {_describe(value)}; {consequence}'


_EMPTY_MESSAGE = (
    'the reply body is empty; a voice turn needs a JSON object such as {"text": "..."}, '
    "so the caller hears silence"
)


def _loads(raw: bytes) -> tuple[Any, str | None]:
    """Parse UTF-8 JSON strictly: (value, None), or (None, why not) — never raises."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start}"
    if text.startswith("\ufeff"):
        return None, "it starts with a UTF-8 byte-order mark; remove it"
    try:
        return json.loads(text, parse_constant=_reject_constant), None
    except json.JSONDecodeError as exc:
        return None, f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    except RecursionError:
        return None, "nested too deeply to parse"
    except ValueError as exc:  # our NaN/Infinity rejection, or an integer too long to convert
        return None, (str(exc).splitlines() or ["unreadable"])[0][:200]


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON (and the platform's parser) does not.
    raise ValueError(f"{name} is not valid JSON")


def _ndjson_objects(body: bytes) -> int:
    """How many lines of ``body`` are JSON objects, if every non-blank line is one; else 0."""
    count = 0
    for line in body.split(b"\n"):
        if not line.strip(_JSON_WS):
            continue
        value, error = _loads(line.removesuffix(b"\r"))
        if error is not None or not isinstance(value, dict):
            return 0
        count += 1
    return count


def _non_object(value: Any) -> str:
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
    fix = f" (send {{{_quote('text')}: {_quote(value, 60)}}})" if isinstance(value, str) else ""
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
        return f"string {_quote(value, 60)}"
    if isinstance(value, list):
        return f"an array of {len(value)} item{'s' if len(value) != 1 else ''}"
    return "an object"


def _quote(value: str, limit: int = 60) -> str:
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
        hint = f"; did you mean {_quote(cleaned)}?" if _DIGITS_RE.fullmatch(cleaned) else ""
        return f"{prefix}, got string {_quote(value)}{hint}; nothing is pressed"
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
            return _quote(field)
    if normalised == "transfer":
        return '"action": "transfer"'
    if normalised in _SYNONYMS:
        return _quote(_SYNONYMS[normalised])
    close = difflib.get_close_matches(key.lower()[:100], sorted(KNOWN_FIELDS), n=1)
    return _quote(close[0]) if close else None
