"""The aiohttp application: every resource router, ``/openapi.json``, and FastAPI-shaped answers
for unknown routes (404 ``{"detail": "Not Found"}``) and wrong methods (405)."""

from __future__ import annotations

import functools
import json

from aiohttp import web

from ..connections import ConnectionLimits, Connections
from ..engine.platform import Platform
from ..host import ControlHost
from ..store.account import EmulatorState
from ..store.calls import close_followers
from ..store.live import publish
from . import (
    agents,
    calls,
    contacts,
    conversations,
    feedback,
    location,
    messages,
    numbers,
    register,
    sip_trunks,
    sub_accounts,
    usage,
    verify,
    webhooks,
    whatsapp,
)
from .access import ACCESS_KEY, Access
from .framework import (
    CONNECTIONS_KEY,
    LIMITER_KEY,
    MAX_BODY_BYTES,
    PLATFORM_KEY,
    RUNTIME_KEY,
    STATE_KEY,
    Route,
    json_response,
    make_aiohttp_handler,
)
from .openapi import build_openapi
from .ratelimit import RateLimiter

# Order matters where a literal segment competes with a parameter (``/v1/agents/voices`` before
# ``/v1/agents/{agent_id}``): aiohttp matches in registration order.
RESOURCE_MODULES = (
    agents,
    numbers,
    contacts,
    calls,
    messages,
    conversations,
    webhooks,
    usage,
    register,
    sip_trunks,
    verify,
    sub_accounts,
    location,
    feedback,
    whatsapp,
)


def all_routes() -> list[Route]:
    return [route for module in RESOURCE_MODULES for route in module.router.routes]


async def _unmatched(request: web.Request) -> web.StreamResponse:
    """What FastAPI answers when no route takes the request: 405 if the path exists under
    another method, 307 to the path without a trailing slash if that one exists, else 404.

    A catch-all route registered last, rather than a middleware, keeps this off the path of
    every matched request (bench/rest_bench.py).
    """
    resources = [r for r in request.app.router.resources() if r is not request.match_info.route.resource]

    async def allowed_methods(req: web.Request) -> set[str]:
        methods: set[str] = set()
        for resource in resources:
            _, allowed = await resource.resolve(req)
            methods |= allowed
        return methods

    allowed = await allowed_methods(request)
    if allowed:
        # FastAPI names the path's methods in `Allow`, as RFC 9110 requires of a 405 (its routes add
        # no implicit HEAD, so neither does this: HEAD on a GET route is a 405 there too).
        return json_response(
            {"detail": "Method Not Allowed"}, 405, headers={"Allow": ", ".join(sorted(allowed))}
        )
    if request.path.endswith("/") and len(request.path) > 1:
        target = request.rel_url.with_path(request.path.rstrip("/")).with_query(request.rel_url.query)
        if await allowed_methods(request.clone(rel_url=target)):
            return web.Response(status=307, headers={"Location": str(target)})
    return json_response({"detail": "Not Found"}, 404)


@functools.cache
def openapi_document() -> bytes:
    """``/openapi.json``, built on first request and once per process: the routes are fixed at
    import, and building it costs ~100 ms that every new Emulator (one per test, say) would pay."""
    return json.dumps(build_openapi(all_routes())).encode()


async def _openapi(request: web.Request) -> web.Response:
    return web.Response(body=openapi_document(), content_type="application/json")


def build_app(
    state: EmulatorState,
    platform: Platform | None = None,
    runtime: ControlHost | None = None,
    extra_routes: list[web.RouteDef] | None = None,
    access: Access | None = None,
    connections: Connections | None = None,
) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[STATE_KEY] = state
    app[ACCESS_KEY] = access or Access.for_keys(state.api_keys)
    app[CONNECTIONS_KEY] = connections or Connections(ConnectionLimits())
    app[PLATFORM_KEY] = platform or Platform(state, state.clock)
    app[LIMITER_KEY] = RateLimiter()
    app[RUNTIME_KEY] = runtime
    routes = all_routes()
    for route in routes:
        app.router.add_route(route.method, route.path, make_aiohttp_handler(route))
    app.router.add_get("/openapi.json", _openapi)
    if extra_routes:
        app.add_routes(extra_routes)
    app.router.add_route("*", "/{unmatched:.*}", _unmatched)
    app.on_shutdown.append(_close_streams)
    return app


async def _close_streams(app: web.Application) -> None:
    """Stopping: end the open transcript streams now, before aiohttp waits for requests under way
    (a stream is a request that never finishes by itself)."""
    close_followers(app[STATE_KEY])
    publish(app[STATE_KEY], None, "closing")  # and the live event streams (api/control_events.py)
