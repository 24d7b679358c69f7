"""Our webhook signatures against the official SDK's verifier: every signature we make must pass
``agentphone.verify_webhook`` / ``construct_event``, and any tampering must fail both sides."""

from __future__ import annotations

import time
from typing import Any

import pytest
from agentphone import WebhookVerificationError, construct_event, verify_webhook
from hypothesis import given
from hypothesis import strategies as st

from agentphone_emulator.engine.delivery import encode_envelope
from agentphone_emulator.engine.signing import USER_AGENT, sign, signed_headers, verify

secrets = st.text(min_size=1, max_size=64)
timestamps = st.integers(min_value=0, max_value=2**40)
json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
envelopes = st.fixed_dictionaries(
    {
        "event": st.sampled_from(["agent.message", "agent.call_ended", "agent.reaction"]),
        "channel": st.sampled_from(["sms", "imessage", "voice"]),
        "timestamp": st.text(max_size=30),
        "agentId": st.none() | st.text(max_size=20),
        "data": st.dictionaries(st.text(max_size=12), json_values, max_size=6),
        "test": st.booleans(),
    }
)


@given(body=st.binary(max_size=2048), secret=secrets, timestamp=timestamps)
def test_sdk_accepts_every_signature_we_make(body: bytes, secret: str, timestamp: int) -> None:
    signature = sign(secret, timestamp, body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    verify_webhook(body, signature, secret, str(timestamp), tolerance=None)
    assert verify(secret, body, signature, timestamp, tolerance=None)


@given(body=st.binary(max_size=512), secret=secrets, skew=st.integers(min_value=-240, max_value=240))
def test_fresh_signatures_pass_the_sdks_default_tolerance(body: bytes, secret: str, skew: int) -> None:
    timestamp = int(time.time()) + skew
    headers = signed_headers(secret, "agent.message", "dlv_1", body, timestamp)
    verify_webhook(body, headers["X-Webhook-Signature"], secret, headers["X-Webhook-Timestamp"])
    assert verify(secret, body, headers["X-Webhook-Signature"], headers["X-Webhook-Timestamp"])


@given(envelope=envelopes, secret=secrets, timestamp=timestamps)
def test_construct_event_parses_what_we_send(envelope: dict[str, Any], secret: str, timestamp: int) -> None:
    body = encode_envelope(envelope)
    event = construct_event(body, sign(secret, timestamp, body), secret, str(timestamp), tolerance=None)
    assert event.raw == envelope
    assert event.event == envelope["event"]
    assert event.agent_id == envelope["agentId"]
    assert event.test is envelope["test"]
    assert event.data.raw == envelope["data"]


@given(body=st.binary(min_size=1, max_size=512), secret=secrets, timestamp=timestamps, data=st.data())
def test_a_flipped_body_byte_is_rejected(
    body: bytes, secret: str, timestamp: int, data: st.DataObject
) -> None:
    signature = sign(secret, timestamp, body)
    index = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    bit = data.draw(st.integers(min_value=0, max_value=7))
    tampered = bytearray(body)
    tampered[index] ^= 1 << bit
    with pytest.raises(WebhookVerificationError):
        verify_webhook(bytes(tampered), signature, secret, str(timestamp), tolerance=None)
    assert not verify(secret, bytes(tampered), signature, timestamp, tolerance=None)


@given(body=st.binary(max_size=256), secret=secrets, timestamp=timestamps, data=st.data())
def test_a_flipped_signature_digit_is_rejected(
    body: bytes, secret: str, timestamp: int, data: st.DataObject
) -> None:
    signature = sign(secret, timestamp, body)
    index = data.draw(st.integers(min_value=len("sha256="), max_value=len(signature) - 1))
    replacement = data.draw(st.sampled_from([c for c in "0123456789abcdef" if c != signature[index]]))
    forged = signature[:index] + replacement + signature[index + 1 :]
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body, forged, secret, str(timestamp), tolerance=None)
    assert not verify(secret, body, forged, timestamp, tolerance=None)


def test_another_secret_or_timestamp_does_not_verify() -> None:
    body = b'{"event":"agent.message"}'
    signature = sign("whsec_right", 1_700_000_000, body)
    assert not verify("whsec_wrong", body, signature, 1_700_000_000, tolerance=None)
    assert not verify("whsec_right", body, signature, 1_700_000_001, tolerance=None)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body, signature, "whsec_right", "1700000001", tolerance=None)


def test_tolerance_window_matches_the_sdk() -> None:
    body = b"{}"
    now = 1_800_000_000
    fresh = sign("s", now - 300, body)
    stale = sign("s", now - 301, body)
    assert verify("s", body, fresh, now - 300, now=now)
    assert not verify("s", body, stale, now - 301, now=now)
    assert verify("s", body, stale, now - 301, now=now, tolerance=None)
    old = int(time.time()) - 301
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify_webhook(body, sign("s", old, body), "s", str(old))
    assert not verify("s", body, sign("s", old, body), old)


def test_malformed_timestamp_is_rejected() -> None:
    assert not verify("s", b"{}", sign("s", 1, b"{}"), "not-a-number")


def test_signed_headers() -> None:
    body = b'{"event":"agent.message"}'
    headers = signed_headers("whsec_abc", "agent.message", "dlv_123", body, 1_750_000_000)
    assert headers == {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Webhook-ID": "dlv_123",
        "X-Webhook-Event": "agent.message",
        "X-Webhook-Timestamp": "1750000000",
        "X-Webhook-Signature": sign("whsec_abc", 1_750_000_000, body),
    }
    verify_webhook(
        body, headers["X-Webhook-Signature"], "whsec_abc", headers["X-Webhook-Timestamp"], tolerance=None
    )


def test_envelope_encoding_is_compact_utf8_like_json_stringify() -> None:
    body = encode_envelope({"event": "agent.message", "data": {"message": "héllo 👋", "n": [1, 2]}})
    assert body == '{"event":"agent.message","data":{"message":"héllo 👋","n":[1,2]}}'.encode()
