"""An in-process voice agent (WSGI, Flask) the call control tests point the webhook at by name
(``tests.voice_app:app/voice``): it answers each caller turn from what the caller said.

- a key press: "You pressed <digits>."
- "bye" anywhere: "Goodbye!" and hangs up
- "broken" anywhere: a reply with a misspelt field (``txt``), so the caller hears silence and the
  emulator records findings
- "long" anywhere: a long answer, worth interrupting
- anything else: "You said: <transcript>"
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, request
from flask.typing import ResponseReturnValue

app = Flask(__name__)

LONG_ANSWER = (
    "Let me tell you everything about your order. It was placed on Monday, packed on Tuesday, "
    "shipped on Wednesday, and it should arrive on Friday before noon, weather permitting."
)


def answer(data: dict[str, Any]) -> dict[str, Any]:
    said = str(data.get("transcript", ""))
    if data.get("dtmf"):
        return {"text": f"You pressed {data['dtmf']}."}
    if "bye" in said.lower():
        return {"text": "Goodbye!", "hangup": True}
    if "broken" in said.lower():
        return {"txt": "this field is misspelt"}
    if "long" in said.lower():
        return {"text": LONG_ANSWER}
    return {"text": f"You said: {said}"}


@app.post("/voice")
def voice() -> ResponseReturnValue:
    event = request.get_json()
    if event.get("event") != "agent.message":
        return app.response_class("{}", mimetype="application/json")
    body = json.dumps(answer(event["data"]))
    return app.response_class(body, mimetype="application/json")
