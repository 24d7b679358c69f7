"""Base classes and field types shared by every wire model.

The real API mixes casings per endpoint (camelCase for agents, numbers, calls, webhooks and
contacts; snake_case for ``/v1/messages``, register, verify, sub-accounts...). A model says which
by its base class. Request models ignore unknown keys, as FastAPI does; both casings are accepted
as input (the documented name and its twin) so a client that sends the other one is not refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AliasChoices,
    AliasGenerator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

from ..clock import iso

Timestamp = Annotated[
    datetime,
    PlainSerializer(iso, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]
"""A datetime that goes on the wire as ``2026-01-15T09:00:00.000Z``."""


# defer_build: a wire model builds its validator and serializer on first use, not when its class is
# made. Building all ~190 at import was most of the models' share of `serve`'s start-up, and a
# request needs only its own (a route's TypeAdapter of a model defers with it). pydantic >= 2.13.4
# makes that first build thread-safe: a test's thread and the emulator's may race to it.


class CamelModel(BaseModel):
    """Wire names in camelCase (``agentId``); input also takes the snake_case name (``agent_id``)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
        extra="ignore",
        defer_build=True,
    )


class StrictCamelModel(CamelModel):
    """A control-plane body: camelCase like :class:`CamelModel`, but an unknown key is a 422, not
    ignored (a misspelt setting or option must not pass as 'changed nothing'). The platform's own
    ``/v1`` bodies ignore unknown keys, as FastAPI does; the control plane is ours to be strict."""

    model_config = ConfigDict(extra="forbid")


class ControlOut(CamelModel):
    """A control-plane answer: camelCase like :class:`CamelModel`, and its OpenAPI schema marks every
    field required, since every one is always sent (null when empty): a client generated from
    ``/__emulator/openapi.json`` gets ``T | null``, not an optional key."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


class SnakeModel(BaseModel):
    """Wire names in snake_case, as the Python attribute names; input also takes each field's
    camelCase twin (``phoneNumber``)."""

    model_config = ConfigDict(
        alias_generator=AliasGenerator(validation_alias=lambda name: AliasChoices(name, to_camel(name))),
        populate_by_name=True,
        extra="ignore",
        defer_build=True,
    )


T = TypeVar("T")


class Page(CamelModel, Generic[T]):
    """Offset pagination: ``{data, hasMore, total}``."""

    data: list[T]
    has_more: bool
    total: int


class CursorPage(CamelModel, Generic[T]):
    """Cursor pagination for messages: ``{data, hasMore}`` (no total)."""

    data: list[T]
    has_more: bool


class ListQuery(CamelModel):
    limit: int = Field(20, ge=1, le=100)
    offset: int = Field(0, ge=0)


class Success(CamelModel):
    success: bool = True


JsonObject = dict[str, Any]


def paginate(items: list[T], limit: int, offset: int) -> tuple[list[T], bool, int]:
    """The slice for one page, whether more follow, and the total."""
    total = len(items)
    page = items[offset : offset + limit]
    return page, offset + len(page) < total, total
