"""The docs' "streaming handler (Python / FastAPI)", character for character, as an app: ``app``
(POST ``/webhook``), for tests/test_streaming_examples.py and for scenarios that target
``tests.streaming_examples:app/webhook``.

The example builds its whole prompt from ``recentHistory`` and asks ``openai`` for an answer. Here
``import openai`` gives a deterministic stand-in whose "model" answers "You said: <the last Customer
line of its prompt>", so what the caller hears shows which utterance the handler saw last.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

from fastapi import FastAPI, Response

# The docs' "Example: streaming handler (Python / FastAPI)", character for character.
FASTAPI_EXAMPLE = r"""from fastapi.responses import StreamingResponse
import json, openai

@app.post('/webhook')
async def handle_voice(payload: dict):
    if payload['channel'] != 'voice':
        return Response(status_code=200)

    history = payload.get('recentHistory', [])
    context = "\n".join([
        f"{'Customer' if h['direction'] == 'inbound' else 'Agent'}: {h['content']}"
        for h in history
    ])

    async def generate():
        yield json.dumps({"text": "One moment, let me check.", "interim": True}) + "\n"

        stream = openai.chat.completions.create(
            model="gpt-4",
            stream=True,
            messages=[
                {"role": "system", "content": "You are a helpful phone agent."},
                {"role": "user", "content": f"Conversation:\n{context}\n\nRespond."}
            ]
        )
        full = ""
        for chunk in stream:
            delta = chunk.choices[0].delta.content or ""
            full += delta
        yield json.dumps({"text": full}) + "\n"

    return StreamingResponse(generate(), media_type="application/x-ndjson")"""


def last_customer_line(prompt: str) -> str:
    said = [line.removeprefix("Customer: ") for line in prompt.splitlines() if line.startswith("Customer: ")]
    return said[-1] if said else "nothing yet"


def _chunk(content: str | None) -> SimpleNamespace:
    return SimpleNamespace(choices=[SimpleNamespace(delta=SimpleNamespace(content=content))])


def _create(*, messages: list[dict[str, str]], **_: Any) -> Iterator[SimpleNamespace]:
    """``openai.chat.completions.create(stream=True)``: deltas, then one without content."""
    return iter([_chunk("You said: "), _chunk(last_customer_line(messages[-1]["content"])), _chunk(None)])


STAND_IN_OPENAI = SimpleNamespace(chat=SimpleNamespace(completions=SimpleNamespace(create=_create)))


def fastapi_example_app() -> FastAPI:
    """:data:`FASTAPI_EXAMPLE` run as a module would run it, with what the docs leave to the reader
    (``app``, ``Response``) defined first, and ``import openai`` giving the stand-in; the import
    is redirected in this namespace only, so nothing else in the process sees it."""

    def import_(name: str, *args: Any, **kwargs: Any) -> Any:
        return STAND_IN_OPENAI if name == "openai" else builtins.__import__(name, *args, **kwargs)

    app = FastAPI()
    namespace: dict[str, Any] = {
        "__builtins__": {**vars(builtins), "__import__": import_},
        "__name__": "docs_fastapi_streaming_example",
        "app": app,
        "Response": Response,
    }
    exec(compile(FASTAPI_EXAMPLE, "<the docs' FastAPI streaming handler>", "exec"), namespace)
    return app


app = fastapi_example_app()
