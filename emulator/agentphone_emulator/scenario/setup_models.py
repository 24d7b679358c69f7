"""The scenario language's ``setup``: the account, agents, numbers, webhook, hosted replies and
contacts a scenario starts from (part of :mod:`.models`, which re-exports every name here)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, JsonValue

from ..models.agents import AgentCreate
from ..settings import AccountSettings
from .bounds import WebhookTimeout
from .strict import Strict, refuse_unknown_keys


def _agent_fields(value: Any) -> Any:
    """An agent under setup.agents takes any field ``POST /v1/agents`` takes, camelCase or snake."""
    wire = [f.alias or n for n, f in AgentCreate.model_fields.items()]
    known = wire + [n for n in AgentCreate.model_fields if n not in wire]
    return refuse_unknown_keys(value, AgentSetup, known, shown=wire)


def _account_fields(value: Any) -> Any:
    return refuse_unknown_keys(value, AccountSettings)


class AgentSetup(AgentCreate):
    """Any field ``POST /v1/agents`` takes (``beginMessage`` or ``begin_message``)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field("", max_length=200, description="Default: the agent's key in setup.agents.")


class NumberSetup(Strict):
    agent: str | None = Field(None, description="A name from setup.agents.")
    area_code: str | None = None
    type: Literal["sms", "imessage"] = "sms"


class WebhookSetup(Strict):
    """The account webhook (its URL is the run's --webhook / --app)."""

    timeout: WebhookTimeout | None = Field(
        None, description="Voice-turn timeout in seconds (fractions allowed here; the API takes 5-120)."
    )
    context_limit: int | None = Field(None, ge=0, le=50, description="recentHistory length.")
    agent: str | None = Field(None, description="Make it the webhook of this agent only (setup.agents name).")
    path: str | None = Field(
        None,
        pattern=r"^/",
        description="Replace the path of the run's target (e.g. /buggy: another route of the same app).",
    )


class HostedSetup(Strict):
    replies: dict[str, list[str | dict[str, JsonValue]]] = Field(
        default_factory=dict,
        description="Per agent name, what a hosted-mode agent answers, one reply per turn.",
    )


class Setup(Strict):
    account: Annotated[AccountSettings, BeforeValidator(_account_fields)] | None = Field(
        None, description="Account settings: credit_cents, recording_addon, require_10dlc ..."
    )
    agents: dict[str, Annotated[AgentSetup, BeforeValidator(_agent_fields)]] = Field(default_factory=dict)
    numbers: dict[str, NumberSetup | str] = Field(
        default_factory=dict, description="Name -> number to buy (a string is the agent's name)."
    )
    webhook: WebhookSetup | Literal[False] | None = Field(
        None, description="The account webhook; false for none (hosted-only scenarios)."
    )
    hosted: HostedSetup | None = None
    contacts: list[dict[str, str]] = Field(
        default_factory=list, description="Contacts to create (name, phoneNumber ...)."
    )
