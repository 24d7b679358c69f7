"""A small declarative layer over aiohttp: one decorator per operation says its path, query
model, body model, response model and status; the same declaration validates the request
(FastAPI-style 422s), serialises the answer, checks the API key, and feeds ``/openapi.json``.

Handlers are plain ``async def handler(ctx, *, <path params>, query=..., body=...)`` functions
that return a pydantic model, a dict/list, ``None`` (for 204), or an aiohttp response (SSE, audio).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic_core
from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError

from ..connections import Connections
from ..engine.platform import Platform
from ..errors import ApiError, not_found, unauthorized
from ..host import ControlHost
from ..store.account import Account, EmulatorState
from .access import ACCESS_KEY, Access, admin_has_no_account, admin_required
from .ratelimit import RateLimiter

log = logging.getLogger("agentphone_emulator.api")

STATE_KEY: web.AppKey[EmulatorState] = web.AppKey("agentphone_state", EmulatorState)
LIMITER_KEY: web.AppKey[RateLimiter] = web.AppKey("agentphone_rate_limiter", RateLimiter)
RUNTIME_KEY: web.AppKey[ControlHost | None] = web.AppKey("agentphone_runtime")
PLATFORM_KEY: web.AppKey[Platform] = web.AppKey("agentphone_platform", Platform)
CONNECTIONS_KEY: web.AppKey[Connections] = web.AppKey("agentphone_connections", Connections)

Handler = Callable[..., Awaitable[Any]]
_PATH_PARAM = re.compile(r"\{(\w+)\}")
_JSON = "application/json"
MAX_BODY_BYTES = 8 * 1024 * 1024
"""The largest request body read (aiohttp's ``client_max_size``); past it, 413."""


@dataclass(frozen=True, slots=True)
class Ctx:
    """What a handler gets: the whole state, the account the key (and sub-account header) chose,
    the raw request for the rare handler that needs headers or streaming."""

    state: EmulatorState
    account: Account
    request: web.Request

    @property
    def runtime(self) -> ControlHost:
        """The Emulator serving the app, as the control plane sees it (``host.py``)."""
        runtime = self.request.app.get(RUNTIME_KEY)
        if runtime is None:  # only the server adds the control routes, and it always gives itself
            raise RuntimeError("this app was built without an emulator (build_app(runtime=...))")
        return runtime

    @property
    def platform(self) -> Platform:
        """Webhook delivery and texting: what the platform does beyond storing."""
        return self.request.app[PLATFORM_KEY]


@dataclass(slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    response: Any
    status: int = 200
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    body_required: bool = True
    summary: str = ""
    tag: str = ""
    auth: bool = True
    # Why the route acts on the whole emulator (it then takes the admin key, not an account's:
    # api/access.py), e.g. "forgets every account's state"; None for a route of one account.
    admin: str | None = None
    # A per-account route the admin key may call too (reading the shared clock).
    admin_too: bool = False
    rate_limit: tuple[int, int] | None = None
    response_media_type: str = _JSON
    max_body: int = MAX_BODY_BYTES
    """The largest body this route reads (413 past it); at most the app's :data:`MAX_BODY_BYTES`."""
    refuse_body: bool = False
    """A route without a body model that answers a body other than ``{}`` with a 422 instead of
    ignoring it (the control plane's: an option it does not take must not pass silently)."""
    path_params: tuple[str, ...] = ()
    adapter: TypeAdapter[Any] | None = None

    def __post_init__(self) -> None:
        self.path_params = tuple(_PATH_PARAM.findall(self.path))
        if self.response is not None and self.response_media_type == _JSON:
            self.adapter = TypeAdapter(self.response)

    @property
    def operation_id(self) -> str:
        return self.handler.__name__.replace("_", "-")


@dataclass
class Router:
    """Collects the routes of one resource module."""

    tag: str
    routes: list[Route] = field(default_factory=list)

    def route(self, method: str, path: str, *, response: Any, **options: Any) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            doc = (handler.__doc__ or "").strip().splitlines()
            summary = options.pop("summary", doc[0] if doc else handler.__name__.replace("_", " ").title())
            self.routes.append(
                Route(
                    method=method,
                    path=path,
                    handler=handler,
                    response=response,
                    summary=summary,
                    tag=self.tag,
                    **options,
                )
            )
            return handler

        return register

    def get(self, path: str, *, response: Any, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, response=response, **options)

    def post(self, path: str, *, response: Any, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, response=response, **options)

    def put(self, path: str, *, response: Any, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, response=response, **options)

    def patch(self, path: str, *, response: Any, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, response=response, **options)

    def delete(self, path: str, *, response: Any, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, response=response, **options)


def json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    try:
        body = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    except ValueError:  # a 422 quoting a request's Infinity or NaN back: valid JSON says them as text
        body = json.dumps(_finite(payload), separators=(",", ":"))
    return web.Response(
        body=body.encode(),
        status=status,
        content_type=_JSON,
        headers=headers,
    )


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float as the text Python's json would have written."""
    if isinstance(value, float) and not math.isfinite(value):
        return json.dumps(value)  # "Infinity", "-Infinity", "NaN"
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def error_response(error: ApiError) -> web.Response:
    return json_response(error.body(), error.status, error.headers)


INPUT_ECHO_CHARS = 4096
"""A 422 echoes each refused ``input`` as FastAPI does, up to this many characters (bytes of JSON); a
larger one (a 300 KB ``customTools`` refused for its size) is described instead of sent back."""


def _echo(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= INPUT_ECHO_CHARS else value[:INPUT_ECHO_CHARS] + "…"
    if not isinstance(value, dict | list):
        return value
    try:  # pydantic's Rust core: json.dumps took 17 ms for 250 KB of small objects
        size = len(pydantic_core.to_json(value))
    except (pydantic_core.PydanticSerializationError, ValueError, RecursionError):
        return None
    if size <= INPUT_ECHO_CHARS:
        return value
    return f"({'an object' if isinstance(value, dict) else 'an array'} of {size} bytes of JSON, not echoed)"


def _validation_detail(exc: ValidationError, where: str) -> list[dict[str, Any]]:
    detail = []
    for err in exc.errors(include_url=False):
        item: dict[str, Any] = {
            "type": err["type"],
            "loc": [where, *err["loc"]],
            "msg": err["msg"],
            "input": _echo(err.get("input")),
        }
        if err.get("ctx"):
            item["ctx"] = {
                k: v if isinstance(v, str | int | float | bool | type(None)) else str(v)
                for k, v in err["ctx"].items()
            }
        detail.append(item)
    return detail


def _json_invalid(position: int, error: str) -> ApiError:
    """FastAPI's 422 for a body that is not JSON: ``error`` at ``position`` (0 where the decoder
    gave none)."""
    return ApiError(
        422,
        [
            {
                "type": "json_invalid",
                "loc": ["body", position],
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": error},
            }
        ],
    )


def parse_query(model: type[BaseModel], query: Mapping[str, str]) -> BaseModel:
    try:
        return model.model_validate(dict(query))
    except ValidationError as exc:
        raise ApiError(422, _validation_detail(exc, "query")) from None


def parse_body(model: type[BaseModel], raw: bytes, required: bool) -> BaseModel:
    if not raw.strip():
        if required and any(f.is_required() for f in model.model_fields.values()):
            raise ApiError(
                422, [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}]
            )
        try:
            return model()
        except ValidationError as exc:
            # An empty body is `{}` to the model: a model-level rule (e.g. "to_number or
            # recipients") can refuse it, and that is the client's 422, not our 500.
            raise ApiError(422, _validation_detail(exc, "body")) from None
    try:
        # Parse and validate in one pass in pydantic's Rust core: the hot path of every write.
        return model.model_validate_json(raw)
    except ValidationError as exc:
        invalid = [err for err in exc.errors(include_url=False) if err["type"] == "json_invalid"]
        if not invalid:
            raise ApiError(422, _validation_detail(exc, "body")) from None
        reason = invalid[0]["msg"]
    try:  # only for malformed JSON: FastAPI reports the decoder's position
        value = json.loads(raw)
    except RecursionError:  # nested past Python's stack (pydantic's own limit is lower still)
        raise _json_invalid(0, reason) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        pos = getattr(exc, "pos", 0)
        raise _json_invalid(pos, str(exc)) from None
    # Python's json took what the Rust parser refused: most likely a lone surrogate escape
    # ("\ud83d", a string cut inside an emoji), which no text the emulator stores may hold.
    if not _encodable(value):
        reason = "a \\u escape is a lone UTF-16 surrogate, which is not valid Unicode"
    raise _json_invalid(0, reason)


def refuse_any_body(raw: bytes) -> None:
    """A 422 unless ``raw`` is empty or ``{}``: for a route that takes no body."""
    if not raw.strip():
        return
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        value = None
    if value == {}:
        return
    keys = list(value) if isinstance(value, dict) else []
    detail = [
        {
            "type": "extra_forbidden",
            "loc": ["body", key],
            "msg": "Extra inputs are not permitted",
            "input": _echo(value[key]),
        }
        for key in keys[:20]
    ] or [{"type": "extra_forbidden", "loc": ["body"], "msg": "This operation takes no body", "input": None}]
    raise ApiError(422, detail)


async def read_body(request: web.Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request's body, or a 413 in the API's shape past ``limit`` (aiohttp's own refusal past
    :data:`MAX_BODY_BYTES` is an exception that would otherwise be a 500). A declared length past
    the limit is refused before a byte of the body is read."""

    def too_large(size: int | None) -> ApiError:
        shown = f" ({size} bytes)" if size is not None else ""
        return ApiError(
            413, f"Request body too large{shown}: the limit is {limit} bytes", code="PAYLOAD_TOO_LARGE"
        )

    if request.content_length is not None and request.content_length > limit:
        raise too_large(request.content_length)
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_large(request.content_length) from None
    if len(raw) > limit:  # chunked, with no length declared
        raise too_large(None)
    return raw


def _encodable(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except (UnicodeEncodeError, ValueError, RecursionError):
        return False
    return True


def bearer_key(request: web.Request) -> str:
    """The key of ``Authorization: Bearer <key>``; 401 without one."""
    header = request.headers.get("Authorization")
    if not header:
        raise unauthorized("Not authenticated")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise unauthorized("Invalid authorization header: expected 'Bearer <api key>'")
    return key.strip()


def first_account(state: EmulatorState) -> Account:
    """The first key's account: what a route that reads no account is handed."""
    return next(iter(state.account_by_key.values()))


def authenticate(state: EmulatorState, request: web.Request, route: Route, access: Access) -> Account:
    """The account the request acts for. An account's key on a per-account route: its account
    (or the sub-account ``X-Sub-Account-Id`` names). A whole-emulator route (``route.admin``) wants
    the admin key, and gets the first account, which it does not read; an account's key there is
    a 403 saying so, as is the admin key (not also an account's) on a per-account route. Any
    other key is a 401: an unknown key learns nothing about which keys exist."""
    key = bearer_key(request)
    account = state.find_account_by_key(key)
    if route.admin is not None:
        if access.is_admin(key):
            return account or first_account(state)
        if account is not None:
            raise admin_required(route.method, route.path, route.admin)
        raise unauthorized("Invalid API key")
    if account is None:
        if not access.is_admin(key):
            raise unauthorized("Invalid API key")
        if route.admin_too:
            return first_account(state)
        raise admin_has_no_account(route.method, route.path)
    sub_account_id = request.headers.get("X-Sub-Account-Id")
    if sub_account_id:
        sub = state.accounts.get(sub_account_id)
        if sub is None or sub.parent_id != account.id:
            raise not_found("Sub-account")
        return sub
    return account


def _body_too_slow(seconds: float) -> web.Response:
    """A body that did not arrive in time (a slow or stalled client): 408, and the connection goes."""
    response = json_response({"detail": f"The request body did not arrive within {seconds:g} s"}, 408)
    response.force_close()
    return response


def _gone() -> web.Response:
    """An answer nobody will read (the connection is closed), for the handler to return."""
    response = web.Response(status=400)
    response.force_close()
    return response


def make_aiohttp_handler(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    path_params = route.path_params
    adapter = route.adapter
    # Every write route may change the state, done or refused, however it ends: counted once it
    # has (EmulatorState.changes). Reads change nothing (tests/test_persistence.py holds them to it).
    counts = route.method not in ("GET", "HEAD")
    reads_body = route.body is not None or route.refuse_body

    async def aiohttp_handler(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE_KEY]
        connections = request.app[CONNECTIONS_KEY]
        protocol = request.protocol
        if not reads_body:  # one whose body is still coming is half-sent: it may be evicted
            connections.busy.add(protocol)  # a request under way: never closed for a new connection
        try:
            try:
                account = (
                    authenticate(state, request, route, request.app[ACCESS_KEY])
                    if route.auth
                    else first_account(state)
                )
                if route.rate_limit is not None and account.settings.rate_limits:
                    request.app[LIMITER_KEY].check(account.id, route, state.now())
                kwargs: dict[str, Any] = {name: request.match_info[name] for name in path_params}
                if route.query is not None:
                    kwargs["query"] = parse_query(route.query, request.query)
                if reads_body:
                    try:
                        async with asyncio.timeout(connections.limits.body_timeout):
                            raw = await read_body(request, route.max_body)  # 413 past the route's cap
                    except TimeoutError:
                        return _body_too_slow(connections.limits.body_timeout)
                    except ConnectionError:  # the client went, or its connection was evicted
                        return _gone()
                    connections.busy.add(protocol)
                    if route.body is not None:
                        kwargs["body"] = parse_body(route.body, raw, route.body_required)
                    else:
                        refuse_any_body(raw)
                result = await route.handler(Ctx(state, account, request), **kwargs)
                if isinstance(result, web.StreamResponse):
                    return result
                if route.status == 204:
                    return web.Response(status=204)
                # Serialised inside the try: a value that cannot be encoded is our bug, answered as
                # the API's JSON 500 rather than aiohttp's plain-text one.
                body = (
                    adapter.dump_json(result, by_alias=True)
                    if adapter is not None
                    else json.dumps(result).encode()
                )
            except ApiError as error:
                return error_response(error)
            except Exception:
                log.exception("internal error in %s %s", route.method, route.path)
                return json_response({"detail": "Internal Server Error"}, 500)
        finally:
            connections.busy.discard(protocol)
            if counts:
                state.touch()
        return web.Response(body=body, status=route.status, content_type=_JSON)

    aiohttp_handler.__name__ = route.handler.__name__
    return aiohttp_handler
