"""Wire models of ``POST /__emulator/agents``: an agent, its number and its webhook in one call (what
the pytest plugin's ``make_agent`` does), camelCase; request bodies refuse unknown keys."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from ..vocabulary import NumberType
from .agents import AgentCreate, AgentOut
from .base import ControlOut, StrictCamelModel
from .control import WebhookTargetOut
from .numbers import NumberOut


class StrictAgentCreate(AgentCreate):
    """``POST /v1/agents``'s body, its validation included, but an unknown key is a 422."""

    model_config = ConfigDict(extra="forbid")


class ProvisionNumber(StrictCamelModel):
    area_code: str | None = Field(None, description="A 3-digit North American area code.")
    type: NumberType = "sms"
    country: str = Field("US", min_length=2, max_length=2)


class ProvisionWebhook(StrictCamelModel):
    target: str = Field(description="A URL, or an in-process app as 'package.module:attribute' plus a path.")
    secret: str | None = Field(
        None, min_length=1, description="The signing secret (default: a new whsec_ one)."
    )
    context_limit: int | None = Field(None, ge=0, le=50)
    timeout: float | None = Field(None, gt=0, le=120, allow_inf_nan=False)


class ProvisionBody(StrictCamelModel):
    agent: StrictAgentCreate | None = Field(
        None, description='POST /v1/agents\'s body (default: {"name": "Agent <n>"}).'
    )
    number: ProvisionNumber | None = Field(
        None, description="The number bought for it (default: any US SMS number)."
    )
    webhook: ProvisionWebhook | None = Field(
        None,
        description="Its own webhook; without it the agent's events go to the account's webhook, if any.",
    )


class ProvisionOut(ControlOut):
    agent: AgentOut = Field(description="As GET /v1/agents/{id} shows it, the number included.")
    number: NumberOut = Field(description="As GET /v1/numbers/{id} shows it.")
    webhook: WebhookTargetOut | None = Field(
        description="Its webhook with the signing secret; null if none was given."
    )
