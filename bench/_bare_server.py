"""The baseline: a bare aiohttp JSON handler with no auth, validation or state.

GET answers ``json_response`` of a fixed document (the emulator's own 20-agent list, so both send
the same bytes); POST parses the JSON body and echoes an agent-shaped object.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

from _processes import serve_forever
from aiohttp import web

document = json.loads(Path(sys.argv[1]).read_text())
agent_template = document["data"][0]


async def list_agents(request: web.Request) -> web.Response:
    return web.json_response(document)


async def create_agent(request: web.Request) -> web.Response:
    body = await request.json()
    return web.json_response({**agent_template, **body, "id": "agt_" + uuid.uuid4().hex[:24]})


app = web.Application()
app.router.add_get("/v1/agents", list_agents)
app.router.add_post("/v1/agents", create_agent)


if __name__ == "__main__":
    serve_forever(app)
