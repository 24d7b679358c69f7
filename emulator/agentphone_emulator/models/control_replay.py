"""The body of ``POST /__emulator/deliveries/{deliveryId}/replay``: a delivery sent again with a
body the person edited, headers they set, and the signature they chose. Everything in it is typed
by a person in a page, so each mistake is a 422 naming the field in one line."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import Field, field_validator

from ..vocabulary import SignatureChoice
from .base import StrictCamelModel

MAX_BODY_CHARS = 1 << 20
"""The longest edited body (a megabyte of text: far past any envelope the platform sends)."""
MAX_HEADERS = 30
MAX_HEADER_VALUE_CHARS = 4096
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")
_CLIENT_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
"""Headers the HTTP client writes from the request itself; set by hand they would lie about it."""


class ReplayBody(StrictCamelModel):
    body: str | None = Field(
        None,
        max_length=MAX_BODY_CHARS,
        description="The body to send, exactly as written (its UTF-8 bytes are what is signed): a JSON "
        "object, the envelope edited. Absent: the original's bytes.",
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Headers set over the platform's own (a name matching one, in any case, replaces it): "
        "at most 30, names HTTP tokens, values one line. Host, Content-Length, Transfer-Encoding and "
        "Connection are the HTTP client's.",
    )
    signature: SignatureChoice = Field(
        "signed",
        description="signed: X-Webhook-Signature with the webhook's secret over the body sent, a fresh "
        "X-Webhook-Timestamp; unsigned: no signature header; forged: one of the right shape and the "
        "wrong value. A safe webhook refuses the last two (400, 401 or 403); accepting one is a "
        "finding (webhook_accepted_unsigned).",
    )

    @field_validator("body")
    @classmethod
    def _json_object(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parsed: Any = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise ValueError(f"must be a JSON object (the webhook envelope), got {type(parsed).__name__}")
        return value

    @field_validator("headers")
    @classmethod
    def _header_lines(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_HEADERS:
            raise ValueError(f"at most {MAX_HEADERS} headers, got {len(value)}")
        for name, text in value.items():
            if not _TOKEN.fullmatch(name):
                raise ValueError(f"{name!r} is not a header name (letters, digits and !#$%&'*+.^_`|~-)")
            if name.lower() in _CLIENT_HEADERS:
                raise ValueError(f"{name} is set by the HTTP client from the request itself")
            if len(text) > MAX_HEADER_VALUE_CHARS:
                raise ValueError(f"{name}: a value of at most {MAX_HEADER_VALUE_CHARS} characters")
            if any(ch in text for ch in "\r\n\0"):
                raise ValueError(f"{name}: a header value is one line (no CR, LF or NUL)")
        return value
