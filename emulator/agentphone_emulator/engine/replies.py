"""Reading a voice webhook's reply body: its framing, as one JSON object or a stream of NDJSON lines.

On a voice call each caller utterance is POSTed to the user's webhook, and the answer is either one
JSON object (``application/json``) or a stream of newline-delimited JSON objects
(``application/x-ndjson``). This module reads the body: the Content-Type, the bound on its size,
where each line ends, what may follow the final chunk, an empty or unparseable body. Each object it
finds is checked by the field rules (:mod:`.reply_fields`: what an object may contain, and the
findings for breaches); every problem is a :class:`ReplyProblem` carrying a :class:`FindingCode`.

:class:`ReplyReader` is pure and synchronous on purpose: the voice engine feeds it bytes as they
arrive off the socket and stamps the times itself, so the same body gives the same chunks and the
same problems however the network happens to split it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Literal

from ..store.findings import FindingCode
from .reply_fields import (
    ERROR,
    NDJSON_TYPE,
    WARNING,
    ReplyChunk,
    ReplyProblem,
    non_object,
    quote,
    read_chunk,
)

MAX_REPLY_BYTES = 1 << 20
"""Body bytes the reader takes; past this it reports VOICE_REPLY_TOO_LARGE and ignores the rest."""

# Media types a streaming server plausibly sends for NDJSON. They are read as NDJSON (the body is
# unambiguous) but warned about, since only application/x-ndjson is documented.
NDJSON_ALIASES = frozenset(
    {"application/ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines"}
)

AFTER_FINAL_KEPT = 4096
"""Bytes of post-final NDJSON kept as the offending bytes of VOICE_BYTES_AFTER_FINAL."""

# JSON's insignificant whitespace (RFC 8259). bytes.strip() would also drop \x0b and \x0c, which make
# a line invalid JSON; a line of those is content, not a blank line.
_JSON_WS = b" \t\r\n"
_UTF8_BOM = b"\xef\xbb\xbf"


def parse_content_type(value: str | None) -> str:
    """The media type of a Content-Type header, lowercased and without parameters ('' when missing)."""
    if value is None:
        return ""
    return value.split(";", 1)[0].strip().lower()


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
                f"Content-Type {quote(self._media_type)} is read as NDJSON, but the platform documents "
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
                f"line {number}: {non_object(value)}; the platform skips it",
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
                f"the reply {non_object(value)}; the caller hears silence",
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
        return quote(self._media_type) if self._media_type else "missing"

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
        """Validate one reply object (:func:`.reply_fields.read_chunk`), report its problems, and
        record the chunk it makes."""
        chunk = read_chunk(obj, line, raw, len(self.chunks), self.problems)
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
