"""The console: a page in the browser that watches every call, text and webhook delivery live and
drives the emulator (dial the agent, type or talk, press keys, text, replay deliveries, move the
clock, export a call as a scenario). Served by ``serve`` at ``/`` with the control plane.

The page is hand-written HTML, CSS and JavaScript modules in ``static/``, shipped in the wheel as
they are (no build step), and uses only the emulator's own API and control plane, with the API key
the person gives it (or the ready line's ``#key=`` fragment, which never reaches the server). Only
these static files are served without a key; they hold nothing of the emulator's state. No font,
script or style comes from anywhere else (the Content-Security-Policy says so to the browser).
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

CONSOLE_PREFIX = "/__emulator/console"
"""Where the page's assets are served (the page itself is ``/``)."""

_TYPES = {
    ".html": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
}
_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob:; connect-src 'self'; worker-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)
_HEADERS = {
    "Content-Security-Policy": _POLICY,
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def asset_names() -> list[str]:
    """The files the page is made of (``static/``)."""
    folder = resources.files(__package__).joinpath("static")
    return sorted(
        entry.name
        for entry in folder.iterdir()
        if entry.name[-4:] in (".css", "html") or entry.name.endswith(".js")
    )


def _asset(name: str) -> web.Response:
    suffix = name[name.rfind(".") :]
    if name not in asset_names() or suffix not in _TYPES:
        return web.json_response({"detail": "Not Found"}, status=404)
    body = resources.files(__package__).joinpath("static", name).read_bytes()
    return web.Response(body=body, content_type=_TYPES[suffix], charset="utf-8", headers=_HEADERS)


async def _page(request: web.Request) -> web.Response:
    return _asset("index.html")


async def _static(request: web.Request) -> web.Response:
    return _asset(request.match_info["name"])


def console_routes() -> list[web.RouteDef]:
    """``GET /`` (the page) and ``GET /__emulator/console/{name}`` (its scripts and styles)."""
    return [web.get("/", _page), web.get(CONSOLE_PREFIX + "/{name}", _static)]
