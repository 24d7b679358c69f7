"""The audio socket's frame protocol (``/__emulator/calls/{id}/audio``): the client's start frame,
its control frames, the size of its audio frames, and the close codes that refuse them. Pure and
property-tested (tests/test_browser_audio.py); the route (``api/control_audio.py``) reads the
socket, :mod:`.bridge_ears` hears the audio and :mod:`.bridge_call` runs the call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..engine.synthesis import SAMPLE_WIDTH

MIN_RATE, MAX_RATE = 8_000, 48_000
MAX_FRAME_SECONDS = 1.0  # one binary frame carries at most this much audio at the declared rate

CONTROL_FRAMES = ("hangup", "bargeIn")  # what a client may send as text after its start frame

# Close codes (4000-4999 are the application's); the reason says what to do.
BAD_FRAME = 4400
UNAUTHORIZED = 4401
FORBIDDEN = 4403
NOT_FOUND = 4404
CONFLICT = 4409
FRAME_TOO_LARGE = 4413
TOO_MANY = 4429
SPEECH_UNAVAILABLE = 4500


class ProtocolError(Exception):
    """The client broke the frame protocol (or may not do what it asked): a close code and why."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# -- frames ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Start:
    """The client's first frame: ``{"type": "start", "apiKey": ..., "sampleRate": ...}``."""

    sample_rate: int
    api_key: str | None = None
    sub_account_id: str | None = None


def _object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolError(BAD_FRAME, f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise ProtocolError(BAD_FRAME, f'{what} must be a JSON object with a "type"')
    return value


def parse_start(text: str) -> Start:
    """The first frame, or :class:`ProtocolError` (4400) saying what is wrong with it."""
    frame = _object(text, "the first frame")
    if frame.get("type") != "start":
        raise ProtocolError(
            BAD_FRAME, 'the first frame must be {"type": "start", "apiKey": "...", "sampleRate": 16000}'
        )
    rate = frame.get("sampleRate")
    if isinstance(rate, float) and rate.is_integer():
        rate = int(rate)
    if isinstance(rate, bool) or not isinstance(rate, int) or not MIN_RATE <= rate <= MAX_RATE:
        raise ProtocolError(
            BAD_FRAME, f"sampleRate must be a whole number of Hz from {MIN_RATE} to {MAX_RATE}, not {rate!r}"
        )
    key, sub = frame.get("apiKey"), frame.get("subAccountId")
    for name, value in (("apiKey", key), ("subAccountId", sub)):
        if value is not None and not isinstance(value, str):
            raise ProtocolError(BAD_FRAME, f"{name} must be a string")
    return Start(sample_rate=rate, api_key=key or None, sub_account_id=sub or None)


def parse_control(text: str) -> str:
    """A text frame after the first: its ``type`` (``hangup``, or ``bargeIn``: the page's interrupt
    button), or ProtocolError."""
    frame = _object(text, "a text frame")
    kind = frame.get("type")
    if not isinstance(kind, str) or kind not in CONTROL_FRAMES:
        raise ProtocolError(
            BAD_FRAME, f'unknown frame type {kind!r}: after "start", text frames are "hangup" or "bargeIn"'
        )
    return kind


def max_frame_bytes(sample_rate: int) -> int:
    """The largest binary frame at ``sample_rate``: :data:`MAX_FRAME_SECONDS` of 16-bit mono."""
    return int(sample_rate * MAX_FRAME_SECONDS) * SAMPLE_WIDTH


def check_audio_frame(size: int, sample_rate: int) -> None:
    """Refuse (4413) a binary frame longer than :data:`MAX_FRAME_SECONDS` at ``sample_rate``."""
    limit = max_frame_bytes(sample_rate)
    if size > limit:
        raise ProtocolError(
            FRAME_TOO_LARGE,
            f"an audio frame of {size} bytes is over {MAX_FRAME_SECONDS:g} s at {sample_rate} Hz "
            f"({limit} bytes of 16-bit mono): send smaller frames (20-100 ms is usual)",
        )
