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
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError

from ..connections import Connections
from ..engine.platform import Platform
from ..errors import ApiError, not_found, unauthorized
from ..store.account import Account, EmulatorState
from .ratelimit import RateLimiter

log = logging.getLogger("agentphone_emulator.api")

STATE_KEY: web.AppKey[EmulatorState] = web.AppKey("agentphone_state", EmulatorState)
LIMITER_KEY: web.AppKey[RateLimiter] = web.AppKey("agentphone_rate_limiter", RateLimiter)
RUNTIME_KEY: web.AppKey[Any] = web.AppKey("agentphone_runtime", object)
PLATFORM_KEY: web.AppKey[Platform] = web.AppKey("agentphone_platform", Platform)
CONNECTIONS_KEY: web.AppKey[Connections] = web.AppKey("agentphone_connections", Connections)

Handler = Callable[..., Awaitable[Any]]
_PATH_PARAM = re.compile(r"\{(\w+)\}")
_JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Ctx:
    """What a handler gets: the whole state, the account the key (and sub-account header) chose,
    the raw request for the rare handler that needs headers or streaming."""

    state: EmulatorState
    account: Account
    request: web.Request

    @property
    def runtime(self) -> Any:
        return self.request.app.get(RUNTIME_KEY)

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
    rate_limit: tuple[int, int] | None = None
    response_media_type: str = _JSON
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
    return web.Response(
        body=json.dumps(payload, separators=(",", ":")).encode(),
        status=status,
        content_type=_JSON,
        headers=headers,
    )


def error_response(error: ApiError) -> web.Response:
    return json_response(error.body(), error.status, error.headers)


def _validation_detail(exc: ValidationError, where: str) -> list[dict[str, Any]]:
    detail = []
    for err in exc.errors(include_url=False):
        item: dict[str, Any] = {
            "type": err["type"],
            "loc": [where, *err["loc"]],
            "msg": err["msg"],
            "input": err.get("input"),
        }
        if err.get("ctx"):
            item["ctx"] = {
                k: v if isinstance(v, str | int | float | bool | type(None)) else str(v)
                for k, v in err["ctx"].items()
            }
        detail.append(item)
    return detail


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
        if not any(err["type"] == "json_invalid" for err in exc.errors()):
            raise ApiError(422, _validation_detail(exc, "body")) from None
    try:  # only for malformed JSON: FastAPI reports the decoder's position
        json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        pos = getattr(exc, "pos", 0)
        raise ApiError(
            422,
            [
                {
                    "type": "json_invalid",
                    "loc": ["body", pos],
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": str(exc)},
                }
            ],
        ) from None
    raise ApiError(
        422, [{"type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error", "input": {}}]
    )


def authenticate(state: EmulatorState, request: web.Request) -> Account:
    header = request.headers.get("Authorization")
    if not header:
        raise unauthorized("Not authenticated")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise unauthorized("Invalid authorization header: expected 'Bearer <api key>'")
    account = state.find_account_by_key(key.strip())
    if account is None:
        raise unauthorized("Invalid API key")
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


def _too_large(exc: web.HTTPRequestEntityTooLarge) -> web.Response:
    """A body over the app's limit: 413 in the API's error shape (it was a 500 and a traceback)."""
    response = json_response({"detail": f"Request body too large: {exc.text}"}, 413)
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
    reads_body = route.body is not None

    async def aiohttp_handler(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE_KEY]
        connections = request.app[CONNECTIONS_KEY]
        protocol = request.protocol
        if not reads_body:  # one whose body is still coming is half-sent: it may be evicted
            connections.busy.add(protocol)  # a request under way: never closed for a new connection
        try:
            try:
                account = (
                    authenticate(state, request) if route.auth else next(iter(state.account_by_key.values()))
                )
                if route.rate_limit is not None and account.settings.rate_limits:
                    request.app[LIMITER_KEY].check(account.id, route, state.now())
                kwargs: dict[str, Any] = {name: request.match_info[name] for name in path_params}
                if route.query is not None:
                    kwargs["query"] = parse_query(route.query, request.query)
                if route.body is not None:
                    try:
                        async with asyncio.timeout(connections.limits.body_timeout):
                            raw = await request.read()
                    except TimeoutError:
                        return _body_too_slow(connections.limits.body_timeout)
                    except ConnectionError:  # the client went, or its connection was evicted
                        return _gone()
                    except web.HTTPRequestEntityTooLarge as exc:  # over client_max_size (app.py)
                        return _too_large(exc)
                    connections.busy.add(protocol)
                    kwargs["body"] = parse_body(route.body, raw, route.body_required)
                result = await route.handler(Ctx(state, account, request), **kwargs)
            except ApiError as error:
                return error_response(error)
            except Exception:
                log.exception("internal error in %s %s", route.method, route.path)
                return json_response({"detail": "Internal Server Error"}, 500)
        finally:
            connections.busy.discard(protocol)
            if counts:
                state.touch()
        if isinstance(result, web.StreamResponse):
            return result
        if route.status == 204:
            return web.Response(status=204)
        body = (
            adapter.dump_json(result, by_alias=True) if adapter is not None else json.dumps(result).encode()
        )
        return web.Response(body=body, status=route.status, content_type=_JSON)

    aiohttp_handler.__name__ = route.handler.__name__
    return aiohttp_handler
