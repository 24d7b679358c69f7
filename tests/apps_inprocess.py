"""Tiny in-process apps the emulator imports by name (``tests.apps_inprocess:<attribute>``).

Apps a test builds as objects live in the test; these exist for the ``module:attr`` references
(``set_webhook("tests.apps_inprocess:flask_app/webhook")``), which only reach module attributes.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from agentphone import WebhookVerificationError, verify_webhook
from fastapi import FastAPI, Request
from flask import Flask, Response, jsonify
from flask import request as flask_request

WEBHOOK_SECRET = "whsec_inprocess"
received: list[dict[str, Any]] = []
"""Envelopes ``flask_app`` accepted (signature verified), oldest first; tests clear it."""

not_an_app = 42
nested = SimpleNamespace(inner=SimpleNamespace(app=None))  # filled in below: a dotted attribute path

fastapi_app = FastAPI()


@fastapi_app.api_route("/{rest:path}", methods=["GET", "POST"])
async def echo(rest: str, request: Request) -> dict[str, Any]:
    """Says back what it was sent, so a test can see what reached the app."""
    body = await request.body()
    return {
        "method": request.method,
        "path": request.url.path,
        "query": request.url.query,
        "body": body.decode(),
        "signature": request.headers.get("x-webhook-signature"),
    }


nested.inner.app = fastapi_app

flask_app = Flask(__name__)


@flask_app.post("/webhook")
def webhook() -> Response:
    body = flask_request.get_data()
    try:
        verify_webhook(
            body,
            flask_request.headers["X-Webhook-Signature"],
            WEBHOOK_SECRET,
            flask_request.headers["X-Webhook-Timestamp"],
        )
    except WebhookVerificationError:
        return Response("bad signature", status=403)
    received.append(json.loads(body))
    return jsonify(ok=True)
