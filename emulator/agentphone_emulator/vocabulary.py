"""The emulator's closed sets of words, in one place: what a call's status, a reply's state, a
delivery's status, a finding's severity, a probe's kind ... may be.

The engine and the store write these values, the wire models declare them (so the control plane's
OpenAPI lists each as an ``enum``), and tests/test_control_typing.py holds the two to each other.
Imports nothing of the package, so any layer may use it.

One word per concept, the platform's where it has one: the person on a call is ``user`` (the
platform's transcript roles, ``user_hangup``), so a key press is ``by: "user"`` and a transcript
line ``role: "user"``. Human-facing text (the scenario report's speaker column, mic mode's lines)
says "caller", a display label rather than a value (docs/control-plane.md, "Words").
"""

from __future__ import annotations

from typing import Literal

Party = Literal["user", "agent"]
"""Who spoke a transcript line or pressed keys on a call: the person (``user``) or the agent."""

CallStatus = Literal["ringing", "in-progress", "completed", "failed", "busy", "no-answer"]
"""A stored call's status (``POST /v1/calls/{id}/end`` answers ``ending`` once, never stored)."""

DisconnectionReason = Literal[
    "user_hangup",
    "agent_hangup",
    "api_hangup",
    "call_transfer",
    "inactivity",
    "max_duration_reached",
    "voicemail_reached",
    "dial_busy",
    "dial_no_answer",
    "dial_failed",
    "no_agent",
    "registered_call_timeout",
]
"""Why a call ended (Retell's reasons); ``store.calls.STATUS_OF_REASON`` gives each one's status."""

ReplyState = Literal["waiting", "speaking", "done", "interrupted", "silent"]
"""Where one agent reply stands, as the caller experiences it."""

ReplyMode = Literal["webhook", "hosted", "greeting", "voicemail"]
"""Who answered a turn: the user's webhook, the hosted responder, or the agent's own words."""

DeliveryStatus = Literal["pending", "success", "failed"]
"""A webhook delivery: ``pending`` (in flight, or a retry scheduled), then ``success`` or ``failed``."""

EventType = Literal["agent.message", "agent.reaction", "agent.call_ended"]
SignatureChoice = Literal["signed", "unsigned", "forged"]
"""How a delivery is signed: with the webhook's secret (every event the platform sends), or, for a
replay edited in the console, deliberately not (no X-Webhook-Signature, or one of the right shape
and the wrong value) to see the webhook refuse it."""
"""The webhook events the platform sends."""

EventChannel = Literal["sms", "mms", "imessage", "whatsapp", "rcs", "voice"]
"""An event's ``channel``."""

Severity = Literal["info", "warning", "error"]
"""A finding's severity: ``error`` (the platform would fail the caller), ``warning``, ``info``."""

ProbeKind = Literal[
    "bad_signature", "missing_signature", "wrong_secret", "stale_timestamp", "future_timestamp", "duplicate"
]
"""A webhook probe: a forged, stale or repeated delivery (engine/probes.py)."""

ProbeVerdict = Literal["refused", "accepted"]
"""What a webhook should do with a probe: refuse it (400/401/403), or accept it once (2xx)."""

MessageDirection = Literal["inbound", "outbound"]
"""A text's direction, seen from the account's number."""

RegistrationStatus = Literal["pending", "approved", "rejected"]
"""A 10DLC registration the carriers decide on."""

NumberStatus = Literal["active", "released"]
"""A phone number: ``released`` numbers leave the lists, their history kept."""

NumberType = Literal["sms", "imessage"]
"""What kind of line a number is."""
