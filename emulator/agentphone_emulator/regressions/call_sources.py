"""Where an imported call comes from: a call on the platform, read through the official SDK, or a
saved ``agent.call_ended`` payload. Either becomes an :class:`ImportedCall`.

What comes back from a service or a file is checked (pydantic, extra keys ignored) before it is
used: a field missing or of the wrong type is one line naming it (:class:`SourceError`), never a
traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_PAYLOAD_BYTES = 16 * 2**20  # a call's payload is kilobytes; a guard, not a budget


class SourceError(Exception):
    """The source cannot give a call: one line saying why."""


class MissingSdk(SourceError):
    """The official SDK is not installed (an environment mistake: exit 2, as for usage)."""


@dataclass(frozen=True)
class Utterance:
    role: Literal["user", "agent"]
    content: str
    at: datetime | None
    """``createdAt``: for the agent when its words were said to their end (or cut), for the caller
    when the turn was sent (its words said). None where the source has no times (a payload)."""


@dataclass(frozen=True)
class ImportedCall:
    call_id: str
    source: str  # for the file's header: "call call_x on https://api.agentphone.ai"
    direction: str
    from_number: str
    to_number: str
    status: str
    reason: str | None
    utterances: list[Utterance]


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _TurnIn(_Loose):
    role: Literal["user", "agent"]
    content: str
    created_at: datetime | None = Field(None, alias="createdAt")


class _CallIn(_Loose):
    id: str = Field(alias="callId")
    direction: str = "inbound"
    from_number: str = Field(alias="from")
    to_number: str = Field(alias="to")
    status: str
    disconnection_reason: str | None = Field(None, alias="disconnectionReason")
    transcript: list[_TurnIn] = Field(default_factory=list)


def _first_error(exc: ValidationError, what: str) -> SourceError:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "(the whole document)"
    return SourceError(f"{what}: {where}: {error['msg']}")


def _imported(call: _CallIn, source: str) -> ImportedCall:
    return ImportedCall(
        call_id=call.id,
        source=source,
        direction=call.direction,
        from_number=call.from_number,
        to_number=call.to_number,
        status=call.status,
        reason=call.disconnection_reason,
        utterances=[Utterance(t.role, t.content, t.created_at) for t in call.transcript],
    )


# -- a saved agent.call_ended payload ------------------------------------------------------------


def from_payload_data(data: Any, source: str) -> ImportedCall:
    """An ``agent.call_ended`` envelope (or its ``data`` alone) as a call."""
    if isinstance(data, dict) and "event" in data:
        if data["event"] != "agent.call_ended":
            raise SourceError(f"{source}: an {data['event']!r} event, not agent.call_ended")
        data = data.get("data")
    if not isinstance(data, dict):
        raise SourceError(f"{source}: expected an agent.call_ended payload (a JSON object)")
    try:
        return _imported(_CallIn.model_validate(data), source)
    except ValidationError as exc:
        raise _first_error(exc, source) from None


def from_payload_file(path: Path) -> ImportedCall:
    try:
        if path.stat().st_size > MAX_PAYLOAD_BYTES:
            raise SourceError(f"{path}: too large for a call's payload")
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {(exc.strerror or str(exc)).lower()}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(f"{path}: not JSON: {exc}") from None
    return from_payload_data(data, f"agent.call_ended payload {path.name}")


# -- a call on the platform, through the official SDK ---------------------------------------------


class _PlatformCallIn(_Loose):
    id: str
    direction: str = "inbound"
    from_number: str = Field(alias="fromNumber")
    to_number: str = Field(alias="toNumber")
    status: str
    disconnection_reason: str | None = Field(None, alias="disconnectionReason")


class _PlatformTranscriptIn(_Loose):
    transcript: list[_TurnIn]


def from_platform(call_id: str, *, api_key: str, base_url: str) -> ImportedCall:
    """``GET /v1/calls/{id}`` and ``GET /v1/calls/{id}/transcript`` through the ``agentphone`` SDK."""
    try:
        import requests
        from agentphone import AgentPhone, AgentPhoneError
    except ImportError:
        raise MissingSdk(
            "reading a call from the platform needs the official SDK: pip install 'agentphone-emulator[platform]'"
        ) from None

    where = f"call {call_id} on {base_url}"
    try:
        with AgentPhone(api_key=api_key, base_url=base_url) as client:
            # The SDK's Call model leaves out disconnectionReason, so the call is read as the API
            # answers it, through the SDK's own request helper (its auth, its error mapping).
            raw_call = client.calls._get(f"/v1/calls/{call_id}")
            raw_transcript = client.calls.get_transcript(call_id)
    except AgentPhoneError as exc:
        raise SourceError(f"{where}: the API answered {exc.status}: {exc.message}") from None
    except requests.RequestException as exc:
        raise SourceError(f"{where}: cannot reach it: {type(exc).__name__}") from None
    except ValueError as exc:  # a 2xx whose body is not JSON
        raise SourceError(f"{where}: the answer is not JSON: {exc}") from None
    try:
        call = _PlatformCallIn.model_validate(raw_call)
        transcript = _PlatformTranscriptIn.model_validate(raw_transcript)
    except ValidationError as exc:
        raise _first_error(exc, where) from None
    return ImportedCall(
        call_id=call.id,
        source=where,
        direction=call.direction,
        from_number=call.from_number,
        to_number=call.to_number,
        status=call.status,
        reason=call.disconnection_reason,
        utterances=[Utterance(t.role, t.content, t.created_at) for t in transcript.transcript],
    )
