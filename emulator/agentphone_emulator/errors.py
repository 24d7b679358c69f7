"""Errors the emulator answers with, shaped as the real service shapes them.

The real API is FastAPI: handled errors are ``{"detail": "<message>"}`` and validation errors are
422 ``{"detail": [{"type", "loc", "msg", "input"}]}``. The official SDKs read the top-level
``detail`` first, so that is where the human message goes; ``code`` is an extra the SDKs ignore
but that a test can assert on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError


class ApiError(Exception):
    """An error answer of the API: HTTP status, ``detail`` and an optional stable ``code``."""

    def __init__(
        self,
        status: int,
        detail: str | list[dict[str, Any]],
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail if isinstance(detail, str) else "validation error")
        self.status = status
        self.detail = detail
        self.code = code
        self.headers: dict[str, str] = dict(headers or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"detail": self.detail}
        if self.code:
            body["code"] = self.code
        return body


def bad_request(detail: str, code: str | None = None) -> ApiError:
    return ApiError(400, detail, code=code)


def unauthorized(detail: str) -> ApiError:
    return ApiError(401, detail, code="UNAUTHORIZED", headers={"WWW-Authenticate": "Bearer"})


def payment_required(detail: str, code: str = "INSUFFICIENT_BALANCE") -> ApiError:
    return ApiError(402, detail, code=code)


def forbidden(detail: str, code: str | None = None) -> ApiError:
    return ApiError(403, detail, code=code)


def not_found(what: str, code: str | None = None) -> ApiError:
    return ApiError(404, f"{what} not found", code=code or "NOT_FOUND")


def conflict(detail: str, code: str | None = None) -> ApiError:
    return ApiError(409, detail, code=code)


def too_many_requests(detail: str, retry_after: int) -> ApiError:
    return ApiError(429, detail, code="RATE_LIMIT_EXCEEDED", headers={"Retry-After": str(retry_after)})


def validation_error(
    loc: Sequence[str | int], msg: str, input_value: Any = None, type_: str = "value_error"
) -> ApiError:
    """A single FastAPI-style 422 entry, for checks that need the whole request (not one field)."""
    return ApiError(422, [{"type": type_, "loc": list(loc), "msg": msg, "input": input_value}])


def first_validation_error(exc: ValidationError) -> str:
    """A pydantic error's first problem on one line: ``loc: message, got <input>``."""
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}, got {first['input']!r}"


def one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def describe_api_error(error: ApiError) -> str:
    """An :class:`ApiError` on one line, as :func:`error_detail` reads the answer it becomes."""
    return error_detail(json.dumps({"detail": error.detail}).encode()) or str(error)


def error_detail(raw: bytes) -> str | None:
    """The ``detail`` of an error answer on one line (a 422's list reads ``field: message; ...``);
    None when the answer has none, as another server's HTML error page has not."""
    try:
        detail = json.loads(raw)["detail"]
    except (ValueError, KeyError, TypeError):
        return None
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if not isinstance(item, dict):
                parts.append(str(item))
                continue
            loc = [str(p) for p in item.get("loc", [])]
            where = ".".join(loc[1:] if loc[:1] == ["body"] and len(loc) > 1 else loc)
            parts.append(f"{where}: {item.get('msg', '')}" if where else str(item.get("msg", "")))
        return one_line("; ".join(parts))
    return one_line(str(detail))
