"""``/openapi.json``: generated from the very route declarations and pydantic models that serve
the API, so the document cannot drift from the behaviour (schemathesis fuzzes against it)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter

from ..version import __version__
from .framework import Route

_REF = "#/components/schemas/{model}"

_ERROR_SCHEMA = {
    "type": "object",
    "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
    "required": ["detail"],
    "title": "ErrorResponse",
}
_VALIDATION_ERROR = {
    "type": "object",
    "properties": {
        "detail": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                    "input": {},
                    "ctx": {"type": "object"},
                },
                "required": ["loc", "msg", "type"],
            },
        }
    },
    "title": "HTTPValidationError",
}

_SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "event": {"type": "string"},
        "data": {"type": "string", "contentMediaType": "application/json"},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
    "required": ["event", "data"],
    "title": "ServerSentEvent",
}


def _schema(components: dict[str, Any], tp: Any, mode: str) -> dict[str, Any]:
    schema = TypeAdapter(tp).json_schema(mode=mode, ref_template=_REF)  # type: ignore[arg-type]
    for name, definition in schema.pop("$defs", {}).items():
        components.setdefault(name, definition)
    if isinstance(tp, type) and issubclass(tp, BaseModel) and "properties" in schema:
        components.setdefault(schema.get("title", tp.__name__), schema)
        return {"$ref": _REF.format(model=schema.get("title", tp.__name__))}
    return schema


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(mode="validation")
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


def build_openapi(routes: list[Route]) -> dict[str, Any]:
    components: dict[str, Any] = {"ErrorResponse": _ERROR_SCHEMA, "HTTPValidationError": _VALIDATION_ERROR}
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        op: dict[str, Any] = {
            "operationId": route.operation_id,
            "summary": route.summary,
            "tags": [route.tag],
        }
        params: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in route.path_params
        ]
        if route.query is not None:
            params += _query_parameters(route.query)
        if params:
            op["parameters"] = params
        if route.body is not None:
            op["requestBody"] = {
                "required": route.body_required
                and any(f.is_required() for f in route.body.model_fields.values()),
                "content": {"application/json": {"schema": _schema(components, route.body, "validation")}},
            }
        responses: dict[str, Any] = {}
        if route.status == 204:
            responses["204"] = {"description": "No Content"}
        elif route.response_media_type == "text/event-stream":
            # Before Open API 3.2's `itemSchema`, an event stream's `schema` describes one event
            # as a client parses it (what schemathesis validates): a named event, JSON data.
            # A declared response model is the events' data: its schema is the `data` field's
            # contentSchema (JSON Schema 2020-12), so a client generator sees every event's shape.
            event: dict[str, Any] = _SSE_EVENT
            if route.response is not None:
                fields: dict[str, Any] = dict(_SSE_EVENT["properties"])
                data = _schema(components, route.response, "serialization")
                fields["data"] = {**fields["data"], "contentSchema": data}
                event = {**_SSE_EVENT, "properties": fields}
            responses[str(route.status)] = {
                "description": "Successful Response",
                "content": {route.response_media_type: {"schema": event}},
            }
        elif route.response_media_type != "application/json":
            responses[str(route.status)] = {
                "description": "Successful Response",
                "content": {route.response_media_type: {"schema": {"type": "string"}}},
            }
        else:
            responses[str(route.status)] = {
                "description": "Successful Response",
                "content": {
                    "application/json": {"schema": _schema(components, route.response, "serialization")}
                },
            }
        error_ref = {
            "content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorResponse")}}}
        }
        if route.auth:
            responses["401"] = {"description": "Missing or invalid API key", **error_ref}
        if route.admin is not None:
            op["description"] = f"Takes the emulator's admin key: it {route.admin}."
            responses["403"] = {"description": "An account's API key, not the admin key", **error_ref}
        responses["4XX"] = {"description": "Client error", **error_ref}
        # Path parameters are validated too (a phone number, a UUID), so any input can earn a 422.
        if route.query is not None or route.body is not None or route.path_params:
            responses["422"] = {
                "description": "Validation Error",
                "content": {
                    "application/json": {"schema": {"$ref": _REF.format(model="HTTPValidationError")}}
                },
            }
        op["responses"] = responses
        if route.auth:
            op["security"] = [{"bearer": []}]
        paths.setdefault(route.path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "AgentPhone API (agentphone-emulator)",
            "version": __version__,
            "description": "The AgentPhone REST API as served by the local emulator.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
