"""An in-process webhook app (WSGI, Flask) the control-plane tests point the webhook at by name."""

from __future__ import annotations

import json

from agentphone import WebhookVerificationError, verify_webhook
from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

SECRET = "whsec_pinned"
app = Flask(__name__)


@app.post("/hooks/<path:rest>")
def hook(rest: str) -> ResponseReturnValue:
    try:
        verify_webhook(
            request.get_data(),
            request.headers.get("X-Webhook-Signature", ""),
            SECRET,
            request.headers.get("X-Webhook-Timestamp", ""),
        )
    except WebhookVerificationError:
        return jsonify(verified=False), 401
    body = json.dumps({"verified": True, "path": request.path}, separators=(",", ":"))
    return app.response_class(body, mimetype="application/json")
