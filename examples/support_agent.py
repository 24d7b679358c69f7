"""Acme Support: an AgentPhone webhook agent for voice calls and texts, written with FastAPI.

It answers calls with keyword rules standing in for an LLM (so its behaviour is exact and
testable), streams NDJSON around a slow "order lookup" tool, navigates phone menus on outbound
calls, and answers texts by sending a text back through the API. examples/README.md lists every
keyword and reply.

    AGENTPHONE_WEBHOOK_SECRET=whsec_... AGENTPHONE_API_KEY=sk_... python -m examples.support_agent

Routes: POST / and POST /webhook (the agent), POST /buggy (a twin that makes the mistakes the
docs' troubleshooting section lists, to see what they look like), GET /health.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import re
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from agentphone import AgentPhoneError, AsyncAgentPhone, WebhookVerificationError, verify_webhook
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

log = logging.getLogger("support_agent")
app = FastAPI(title="Acme Support")

DEFAULT_ORDER = "A-1042"
ORDER_ID = re.compile(r"\b[A-Z]-\d{4}\b", re.IGNORECASE)
TEXT_CHANNELS = frozenset({"sms", "mms", "imessage"})
NDJSON = "application/x-ndjson"


# -- configuration ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Config:
    webhook_secret: str
    api_key: str
    base_url: str
    tool_seconds: float


def load_config() -> Config:
    """Read the environment on every request, not at import time: a test runner (or a process
    manager) may import this module first and set the variables afterwards."""
    try:
        tool_seconds = float(os.environ.get("SUPPORT_AGENT_TOOL_SECONDS", "0.2"))
    except ValueError:
        log.warning("SUPPORT_AGENT_TOOL_SECONDS is not a number; using 0.2")
        tool_seconds = 0.2
    return Config(
        webhook_secret=os.environ.get("AGENTPHONE_WEBHOOK_SECRET", ""),
        api_key=os.environ.get("AGENTPHONE_API_KEY", ""),
        base_url=os.environ.get("AGENTPHONE_BASE_URL", "https://api.agentphone.ai"),
        tool_seconds=tool_seconds,
    )


# -- memory (per process; use Redis or your database when you run more than one) ---------------------


class RecentIds:
    """The last ``size`` ids seen, oldest forgotten first: enough to recognise a retry."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, key: object) -> bool:
        return key in self._ids

    def add(self, key: str) -> None:
        self._ids[key] = None
        self._ids.move_to_end(key)
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)

    def clear(self) -> None:
        self._ids.clear()


HANDLED = RecentIds()  # deliveries answered below 500: a retry of one is not acted on twice
FLAKY_FAILED = RecentIds()  # /buggy: deliveries already failed once on purpose
ENDED_CALLS: deque[dict[str, Any]] = deque(maxlen=100)  # the data of the last agent.call_ended events


def reset_memory() -> None:
    """Forget handled ids and ended calls (for tests that re-run with reproducible ids)."""
    HANDLED.clear()
    FLAKY_FAILED.clear()
    ENDED_CALLS.clear()


# -- receiving a webhook -----------------------------------------------------------------------------


@app.get("/health")
async def health() -> dict[str, bool]:
    return {"ok": True}


@app.post("/")
@app.post("/webhook")
async def webhook(request: Request) -> Response:
    return await receive(request, buggy=False)


@app.post("/buggy")
async def buggy_webhook(request: Request) -> Response:
    return await receive(request, buggy=True)


async def receive(request: Request, *, buggy: bool) -> Response:
    """Verify, de-duplicate, then handle one event."""
    config = load_config()
    if not config.webhook_secret:
        # Refuse rather than skip verification: an unsigned endpoint would act on anyone's POST.
        log.error("AGENTPHONE_WEBHOOK_SECRET is not set: cannot verify webhooks, answering 500")
        return JSONResponse({"detail": "AGENTPHONE_WEBHOOK_SECRET is not set"}, status_code=500)

    body = await request.body()  # the raw bytes: the signature covers them, not re-serialised JSON
    try:
        verify_webhook(
            body,
            request.headers["X-Webhook-Signature"],
            config.webhook_secret,
            request.headers["X-Webhook-Timestamp"],  # the SDK also rejects it if over 300 s old
        )
    except (KeyError, WebhookVerificationError) as exc:
        log.warning("rejected a webhook: %s", f"no {exc} header" if isinstance(exc, KeyError) else exc)
        return JSONResponse({"detail": "invalid signature"}, status_code=401)

    # The platform retries 5xx answers and timeouts with the same X-Webhook-ID: act once per id.
    delivery = delivery_key(request.headers.get("X-Webhook-ID"), body)
    if delivery is not None and delivery in HANDLED:
        log.info("duplicate delivery %s: already handled", request.headers["X-Webhook-ID"])
        return JSONResponse({"duplicate": True})

    response = await handle(json.loads(body), delivery, config, buggy=buggy)
    if delivery is not None and response.status_code < 500:
        HANDLED.add(delivery)  # only once handled: a failed attempt must act when it is retried
    return response


def delivery_key(webhook_id: str | None, body: bytes) -> str | None:
    """The X-Webhook-ID, plus a digest of the body: a retry re-sends the very same bytes, so an id
    that comes back with another body (a test emulator re-seeded between runs) is a new event."""
    if webhook_id is None:
        return None
    return f"{webhook_id}:{hashlib.sha256(body).hexdigest()[:16]}"


async def handle(payload: dict[str, Any], delivery: str | None, config: Config, *, buggy: bool) -> Response:
    event, channel, data = payload.get("event"), payload.get("channel"), payload.get("data") or {}
    if event == "agent.message" and channel == "voice":
        return await buggy_voice_reply(data) if buggy else voice_reply(payload, config.tool_seconds)

    if event == "agent.message" and channel in TEXT_CHANNELS:
        if data.get("direction") == "outbound":
            # The platform echoes every text we send; answering our own echo would loop forever.
            return JSONResponse({"ok": True})
        if payload.get("test"):
            return JSONResponse({"ok": True})  # POST /v1/webhooks/test: no one to text back
        if buggy and "flaky" in (data.get("message") or "").lower() and first_attempt(delivery):
            return JSONResponse({"detail": "flaky on purpose: retry me"}, status_code=500)
        return await answer_text(payload, config)

    if event == "agent.call_ended":
        ENDED_CALLS.append(data)
        log.info(
            "call %s ended: %s (%s)", data.get("callId"), data.get("status"), data.get("disconnectionReason")
        )
    return JSONResponse({"ok": True})


def first_attempt(delivery: str | None) -> bool:
    """/buggy's "flaky" texts fail the first attempt of each delivery, then work."""
    if delivery is None or delivery in FLAKY_FAILED:
        return False
    FLAKY_FAILED.add(delivery)
    return True


# -- voice ---------------------------------------------------------------------------------------------


def mentions(text: str, *phrases: str) -> bool:
    """Whether ``text`` (lower case) has one of ``phrases`` as whole words: "bye" is not in "bypass"."""
    return any(re.search(rf"\b{re.escape(phrase)}\b", text) for phrase in phrases)


def say(text: str, **fields: Any) -> JSONResponse:
    return JSONResponse({"text": text, **fields})


def ndjson(*chunks: dict[str, Any]) -> str:
    return "".join(json.dumps(chunk) + "\n" for chunk in chunks)


KEYPAD = {"1": "Billing. Your balance is zero dollars.", "2": "Support. Tell me what went wrong."}
KEYPAD_AGAIN = "Sorry, I didn't get that. Press 1 for billing or 2 for support."


def voice_reply(payload: dict[str, Any], tool_seconds: float) -> Response:
    """What to say to one caller utterance. The first rule that matches wins."""
    data = payload["data"]
    said = (data.get("transcript") or "").lower().replace("\u2019", "'")  # speech-to-text may curl quotes

    if data.get("dtmf") is not None:  # the caller pressed keys
        return say(KEYPAD.get(data["dtmf"], KEYPAD_AGAIN))
    if data.get("direction") == "outbound":  # we placed this call: someone (or something) answered
        return outbound_reply(said)
    if mentions(said, "goodbye", "bye", "that's all"):
        return say("Thanks for calling Acme. Goodbye!", hangup=True)
    if mentions(said, "human", "person", "representative", "agent"):
        return say("Let me transfer you to a person.", action="transfer")  # needs the agent's transferNumber
    if mentions(said, "order", "orders"):
        order_id = find_order_id(data.get("transcript") or "", payload.get("conversationState"))
        return StreamingResponse(order_status_stream(order_id, tool_seconds), media_type=NDJSON)
    if mentions(said, "hours", "tell me about"):
        return StreamingResponse(opening_hours_stream(), media_type=NDJSON)
    if mentions(said, "what did i say", "repeat"):
        return say(repeat_caller(payload.get("recentHistory") or []))
    return say("I can help with orders, opening hours, or put you through to a person. What do you need?")


def outbound_reply(said: str) -> Response:
    """On a call we placed: get through the phone menu to support, then deliver the message."""
    if mentions(said, "press 2"):  # "For sales, press 1. For support, press 2."
        return JSONResponse({"digits": "2"})  # keys only: talking over a menu does nothing
    if mentions(said, "you've reached support"):
        return say("Hi, this is Acme calling about order A-1042 for a customer.")
    if mentions(said, "goodbye", "bye", "that's all"):
        return say("Thanks, goodbye!", hangup=True)
    return say("Hi, this is Acme. Your order A-1042 shipped this morning.")


def find_order_id(text: str, conversation_state: dict[str, Any] | None) -> str:
    """The order the caller named, else the one they texted us earlier (the conversation's
    metadata, which the platform sends as ``conversationState``), else the demo order."""
    match = ORDER_ID.search(text)
    if match:
        return match.group(0).upper()
    return str((conversation_state or {}).get("orderId") or DEFAULT_ORDER)


async def look_up_order(order_id: str, seconds: float) -> str:
    """The "tool": a slow order API, simulated."""
    await asyncio.sleep(seconds)
    return f"Order {order_id} shipped this morning and arrives Thursday."


async def order_status_stream(order_id: str, tool_seconds: float) -> AsyncIterator[str]:
    # An interim chunk first, at once: the caller hears it while the tool runs instead of silence.
    yield ndjson({"text": "Let me check on that.", "interim": True})
    yield ndjson({"text": await look_up_order(order_id, tool_seconds)})  # no "interim": closes the turn


OPENING_HOURS = [
    "We're open Monday to Friday, nine to five.",
    "On Saturdays we open at ten and close at two.",
    "We're closed on Sundays and public holidays.",
    "Is there anything else I can help with?",
]


async def opening_hours_stream() -> AsyncIterator[str]:
    """A long answer, one sentence per chunk: speech starts on the first sentence. Every chunk
    but the last is interim, because the first chunk without ``interim`` ends the turn."""
    for index, sentence in enumerate(OPENING_HOURS):
        last = index == len(OPENING_HOURS) - 1
        yield ndjson({"text": sentence} if last else {"text": sentence, "interim": True})


def repeat_caller(history: list[dict[str, Any]]) -> str:
    """``recentHistory`` holds the call so far, oldest first, ending with this very utterance: the
    caller's previous words are the inbound line before the last one."""
    earlier = [item.get("content", "") for item in history if item.get("direction") == "inbound"][:-1]
    if not earlier:
        return "You haven't said anything yet. What do you need?"
    return f"You said: {earlier[-1].rstrip('.!? ')}."


# -- the deliberately broken twin (POST /buggy) -------------------------------------------------------


async def buggy_voice_reply(data: dict[str, Any]) -> Response:
    """Each keyword makes one mistake from the docs' troubleshooting list. Don't copy these."""
    said = (data.get("transcript") or "").lower()
    if mentions(said, "array"):
        return JSONResponse(["Sure, one moment."])  # not an object: the caller hears silence
    if mentions(said, "slow"):
        await asyncio.sleep(1.5)  # a slow tool with no interim filler first: silence, then a timeout
        return say("Sorry for the wait.")
    if mentions(said, "empty"):
        return Response(status_code=200)  # fine for texts, silence on a call
    if mentions(said, "forget"):
        return StreamingResponse(forgetful_stream(), media_type=NDJSON)
    if mentions(said, "markup"):
        return say("<speak>Your order <b>shipped</b>.</speak>")  # tags read aloud (or stripped)
    if mentions(said, "typo"):
        return JSONResponse({"Text": "Hello"})  # field names are case-sensitive
    if mentions(said, "transfer"):
        return say("Transferring.", action="transfer")  # fails when the agent has no transferNumber
    return say("Buggy agent here.")


async def forgetful_stream() -> AsyncIterator[str]:
    yield ndjson({"text": "Let me look that up.", "interim": True})
    # ... and the final chunk (one without "interim") never comes: the turn never closes.


# -- texts --------------------------------------------------------------------------------------------


def text_reply(message: str, conversation_state: dict[str, Any]) -> tuple[str | None, str | None]:
    """``(reply, order id to remember)`` for an inbound text; no reply to STOP."""
    if re.sub(r"[^a-z]", "", message.lower()) == "stop":
        return None, None  # the carrier handles the opt-out; texting back now is not allowed
    match = ORDER_ID.search(message)
    if match:
        order_id = match.group(0).upper()
        return f"Got it: order {order_id}. Text STATUS any time for an update.", order_id
    if mentions(message.lower(), "status"):
        remembered = conversation_state.get("orderId")
        if not remembered:
            return "Which order? Text me its number, like A-1042.", None
        return f"Order {remembered} shipped this morning and arrives Thursday.", None
    return "Thanks for texting Acme Support! Text an order number like A-1042 to track it.", None


async def answer_text(payload: dict[str, Any], config: Config) -> Response:
    """Reply through the API before answering 200, so the reply exists once the delivery is done."""
    data = payload["data"]
    state = payload.get("conversationState") or {}
    reply, order_id = text_reply(data.get("message") or "", state)
    if reply is None:
        return JSONResponse({"ok": True})
    if not config.api_key:
        log.warning("AGENTPHONE_API_KEY is not set: not replying to %s", data.get("from"))
        return JSONResponse({"ok": True})

    async with AsyncAgentPhone(api_key=config.api_key, base_url=config.base_url) as client:
        try:
            if order_id is not None:
                # conversationState is the conversation's metadata; a PATCH replaces it whole, so merge.
                await client.conversations.update(
                    data["conversationId"], metadata={**state, "orderId": order_id}
                )
            await client.messages.send(
                agent_id=payload.get("agentId"),
                number_id=data.get("numberId"),  # reply from the number they texted
                to_number=data["from"],
                body=reply,
            )
        except AgentPhoneError as exc:
            # A refusal (say 403: no 10DLC registration yet) will not change on a retry: we got the
            # event, so answer 200 and look at the log.
            log.error("AgentPhone refused the reply to %s: %s %s", data.get("from"), exc.status, exc.message)
        except httpx.HTTPError as exc:
            # The API was unreachable: a 5xx makes the platform retry this event later.
            log.error("could not reach AgentPhone at %s: %r", config.base_url, exc)
            return JSONResponse({"detail": "AgentPhone API unreachable"}, status_code=503)
    return JSONResponse({"ok": True})


# -- running it -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description="Acme Support, an example AgentPhone webhook agent")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
