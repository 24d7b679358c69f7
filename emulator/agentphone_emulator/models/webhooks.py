"""Webhooks: ``/v1/webhooks`` and ``/v1/agents/{id}/webhook`` (camelCase), delivery log and stats."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from ..errors import validation_error
from .base import CamelModel, Timestamp

_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


def _http_url(value: str) -> str:
    """Validate as pydantic's ``HttpUrl`` (same error types/messages FastAPI gives) but keep the
    text as sent: ``HttpUrl`` would add a trailing slash the user never wrote."""
    try:
        _HTTP_URL.validate_python(value)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise PydanticCustomError(first["type"], first["msg"], dict(first.get("ctx") or {})) from None
    return value


WebhookUrl = Annotated[str, AfterValidator(_http_url)]


def check_webhook_target(url: str) -> None:
    """A 422 (``loc: [body, target]``) unless ``url`` is an http(s) URL the API would accept."""
    try:
        _HTTP_URL.validate_python(url)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise validation_error(
            ["body", "target"],
            f"{first['msg']}: expected an http(s) URL or an app reference such as myagent.server:app/webhook",
            url,
            type_=first["type"],
        ) from None


Channel = Literal["sms", "imessage", "mms", "whatsapp", "rcs"]


class WebhookCreateRequest(CamelModel):
    url: WebhookUrl
    context_limit: int | None = Field(None, ge=0, le=50)
    timeout: int | None = Field(None, ge=5, le=120)


class WebhookResponse(CamelModel):
    id: str
    url: str
    secret: str
    status: str
    context_limit: int
    timeout: int | float  # whole seconds through the API; the control plane may set fractions
    created_at: Timestamp


class WebhookDeleted(CamelModel):
    success: bool
    message: str


class WebhookDeliveryResponse(CamelModel):
    id: str
    message_id: str | None
    event_type: str | None
    channel: str | None
    status: str
    http_status: int | None
    error_message: str | None
    response_body: str | None
    attempt_count: int
    last_attempt_at: Timestamp | None
    next_retry_at: Timestamp | None
    created_at: Timestamp


class PaginatedDeliveriesResponse(CamelModel):
    items: list[WebhookDeliveryResponse]
    total: int
    offset: int
    limit: int


class DeliveriesQuery(CamelModel):
    limit: int = Field(50, ge=1, le=1000)
    offset: int = Field(0, ge=0)
    hours: int | None = Field(None, ge=1, le=168)


class AgentDeliveriesQuery(CamelModel):
    limit: int = Field(50, ge=1, le=1000)


class StatsQuery(CamelModel):
    hours: int = Field(24, ge=1, le=720)  # up to 30 days, for dashboards wider than the log's week


class StatusCounts(CamelModel):
    success: int
    failed: int
    pending: int
    total: int


class HourlyDeliveryStats(CamelModel):
    hour: Timestamp  # the start of the hour (UTC)
    success: int
    failed: int
    pending: int
    total: int


class WebhookDeliveryStatsResponse(CamelModel):
    total: int
    success: int
    failed: int
    pending: int
    success_rate: float
    by_event_type: dict[str, StatusCounts]
    by_hour: list[HourlyDeliveryStats]


class AllTimeStatsResponse(CamelModel):
    total: int
    success: int
    failed: int
    pending: int
    success_rate: float


class WebhookTestRequest(BaseModel):
    """Optional overrides for the synthetic ``agent.message``; the wire names are bare words."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    from_: str | None = Field(None, alias="from")
    to: str | None = None
    message: str | None = None
    channel: Channel | None = None
    agent_id: str | None = Field(None, validation_alias=AliasChoices("agentId", "agent_id"))


class WebhookTestQuery(CamelModel):
    agent_id: str | None = None


class WebhookTestResponse(CamelModel):
    success: bool
    status_code: int | None
    response_ms: int | None
    error: str | None
    delivery_id: str
