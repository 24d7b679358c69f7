"""The trivial agent load_bench.py loads: the NDJSON agent of voice_bench.py (an interim chunk
and a final one, no parsing, no state), which also keeps the first voice turn it is sent (its
body and signed headers) in the file named by $LOAD_BENCH_BODY, for the bare Locust baseline."""

from __future__ import annotations

import json
import os

from _ndjson_agent import CONTENT_TYPE, REPLY
from _processes import serve_forever
from aiohttp import web

KEEP = os.environ.get("LOAD_BENCH_BODY")
kept = False


async def answer(request: web.Request) -> web.Response:
    global kept
    raw = await request.read()
    if KEEP and not kept and b'"voice"' in raw:
        kept = True
        headers = {k: v for k, v in request.headers.items() if k.lower().startswith(("x-", "content-type"))}
        with open(KEEP, "w") as f:
            json.dump({"body": raw.decode(), "headers": headers}, f)
    return web.Response(body=REPLY, content_type=CONTENT_TYPE)


if __name__ == "__main__":
    application = web.Application()
    application.router.add_post("/{tail:.*}", answer)
    serve_forever(application)
